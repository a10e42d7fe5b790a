"""Answer quality on the workplace evaluation set (benchmarks/data/workplace): a handbook, an intranet page, a PDF.

- Starts a server on a fresh data folder (or uses ``--url``), ingests the three documents, and asks every
  question of ``questions.jsonl`` with each ``--detail`` level (short and normal by default).
- Scores each answer as the issue defines it: *correct* when one of the gold answers is contained in the
  answer after normalisation (see ``tokens``), or, for an unanswerable question, when the service abstained;
  *abstained* when it declined an answerable question; *confidently wrong* otherwise.
- Checks every citation: its text must equal the document's extracted text between its offsets; and, for a
  correct answer, whether some citation holds the gold answer.
- Prints one row per detail level and writes every answer to ``--report`` (JSON).

    nice -n 15 .venv/bin/python -m benchmarks.workplace_eval --report /tmp/workplace.json

The questions are a check, never a tuning set: see benchmarks/data/workplace/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import running_server

DATA = Path(__file__).resolve().parent / "data" / "workplace"
DOCUMENTS = ("handbook.md", "it-facilities.html", "travel-policy.pdf")
UNANSWERABLE = "unanswerable"

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# A number keeps its inner points and colons ("2.1", "08:00"); currency and per-cent signs are tokens of
# their own; every other punctuation mark (hyphens, slashes, dashes, brackets) only separates tokens.
_TOKEN = re.compile(r"\d+(?:[.:]\d+)*|[^\W\d_]+|[£$€¥%]")
_ARTICLES = {"a", "an", "the"}


def tokens(text: str) -> list[str]:
    """Case-, punctuation- and article-insensitive tokens: "£1,200/year" -> ["£", "1200", "year"]."""
    return [t for t in _TOKEN.findall(_THOUSANDS.sub("", text.lower())) if t not in _ARTICLES]


def contains(answer: str, gold: str) -> bool:
    """Whether ``gold`` appears in ``answer`` as a whole run of tokens ("16 weeks" is not in "116 weeks")."""
    said, want = tokens(answer), tokens(gold)
    return bool(want) and any(said[i : i + len(want)] == want for i in range(len(said) - len(want) + 1))


@dataclass(frozen=True)
class Question:
    line: int
    text: str
    answers: tuple[str, ...]  # empty: unanswerable
    document: str | None
    kind: str | None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: Path) -> list[Question]:
    """The JSON Lines format of ``rag eval``: ``answer`` (a string, or "unanswerable") or ``answers`` (a list)."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        expected = item.get("answers", item.get("answer"))
        expected = [expected] if isinstance(expected, str) else expected
        if not isinstance(expected, list) or not expected or not all(isinstance(a, str) for a in expected):
            raise ValueError(f"{path}:{number}: needs an answer, a list of answers or {UNANSWERABLE!r}")
        answers = () if [a.lower() for a in expected] == [UNANSWERABLE] else tuple(expected)
        out.append(Question(number, item["question"], answers, item.get("document"), item.get("kind")))
    return out


def outcome(q: Question, answer: str, abstained: bool) -> str:
    if not q.answerable:
        return "correct" if abstained else "wrong"
    if abstained:
        return "abstained"
    return "correct" if any(contains(answer, g) for g in q.answers) else "wrong"


class DocumentTexts:
    """The extracted text of each ingested document, which citation offsets point into.

    Asks the server (``GET /documents/{id}/text``) where it has that route; otherwise parses the local file
    with the service's own parser, which gives the same text.
    """

    def __init__(self, client: httpx.Client, sources: dict[str, str]) -> None:
        self.client = client
        self.sources = sources
        self.cache: dict[str, str] = {}

    def get(self, document_id: str) -> str | None:
        if document_id not in self.cache:
            resp = self.client.get(f"/documents/{document_id}/text")
            if resp.status_code == 200 and resp.json().get("characters") == len(resp.json()["text"]):
                self.cache[document_id] = resp.json()["text"]
            elif document_id in self.sources:
                from retrieval.parsing.dispatch import parse_document

                name = self.sources[document_id]
                self.cache[document_id] = parse_document(name, (DATA / name).read_bytes()).text
            else:
                return None
        return self.cache[document_id]


def check_citations(body: dict[str, Any], texts: DocumentTexts, q: Question) -> dict[str, Any]:
    exact = 0
    holds_gold = False
    for c in body.get("citations", []):
        doc = texts.get(c["document_id"])
        exact += doc is not None and doc[c["start"] : c["end"]] == c["text"]
        holds_gold = holds_gold or any(contains(c["text"], g) for g in q.answers)
    return {"citations": len(body.get("citations", [])), "exact_citations": exact, "citation_holds_gold": holds_gold}


def ask(client: httpx.Client, texts: DocumentTexts, q: Question, detail: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    resp = client.post("/ask", json={"question": q.text, "detail": detail})
    seconds = time.perf_counter() - t0
    row: dict[str, Any] = {
        "line": q.line,
        "question": q.text,
        "expected": list(q.answers) or UNANSWERABLE,
        "document": q.document,
        "kind": q.kind,
        "detail": detail,
        "seconds": round(seconds, 2),
    }
    if resp.status_code != 200:
        return {**row, "outcome": "error", "error": f"HTTP {resp.status_code}: {resp.text[:300]}"}
    body = resp.json()
    return {
        **row,
        "outcome": outcome(q, body["answer"], body["abstained"]),
        "answer": body["answer"],
        "abstained": body["abstained"],
        "support": body.get("support"),
        "adjustments": body.get("adjustments"),
        **check_citations(body, texts, q),
        "cited": [{k: c.get(k) for k in ("source", "page", "start", "end", "text")} for c in body.get("citations", [])],
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, float | int]:
    ans = [r for r in rows if r["expected"] != UNANSWERABLE]
    una = [r for r in rows if r["expected"] == UNANSWERABLE]
    correct_ans = [r for r in ans if r["outcome"] == "correct"]
    n_cit = sum(r.get("citations", 0) for r in rows)

    def share(part: Iterable[dict[str, Any]], whole: list[dict[str, Any]]) -> float:
        return len(list(part)) / len(whole) if whole else float("nan")

    return {
        "answerable": len(ans),
        "unanswerable": len(una),
        "correct": share(correct_ans, ans),
        "false_abstain": share((r for r in ans if r["outcome"] == "abstained"), ans),
        "wrong_answerable": share((r for r in ans if r["outcome"] == "wrong"), ans),
        "abstain_unanswerable": share((r for r in una if r["outcome"] == "correct"), una),
        "confidently_wrong": share((r for r in rows if r["outcome"] == "wrong"), rows),
        "errors": sum(r["outcome"] == "error" for r in rows),
        "citations": n_cit,
        "exact_citations": sum(r.get("exact_citations", 0) for r in rows) / n_cit if n_cit else float("nan"),
        "correct_cite_gold": share((r for r in correct_ans if r.get("citation_holds_gold")), correct_ans),
        "median_s": sorted(r["seconds"] for r in rows)[len(rows) // 2] if rows else float("nan"),
    }


COLUMNS = (
    ("correct", "correct"),
    ("false_abstain", "abstained"),
    ("wrong_answerable", "wrong"),
    ("abstain_unanswerable", "abst.unans"),
    ("confidently_wrong", "conf.wrong"),
    ("exact_citations", "cit.exact"),
    ("correct_cite_gold", "cit.gold"),
)


def table(summaries: dict[str, dict[str, float | int]]) -> str:
    first = next(iter(summaries.values()))
    lines = [
        f"{first['answerable']} answerable + {first['unanswerable']} unanswerable questions; "
        "correct/abstained/wrong: share of answerable; abst.unans: share of unanswerable abstained on; "
        "conf.wrong: share of all questions neither correct nor abstained; cit.exact: citations whose text is "
        "the document's text at their offsets; cit.gold: correct answers with a citation holding the gold answer",
        f"{'detail':8}" + "".join(f"{label:>11}" for _, label in COLUMNS) + f"{'citations':>10}{'median s':>9}",
    ]
    for detail, s in summaries.items():
        cells = "".join(f"{float(s[key]):>11.1%}" for key, _ in COLUMNS)
        errors = f"  ({s['errors']} failed requests)" if s["errors"] else ""
        lines.append(f"{detail:8}{cells}{s['citations']:>10}{float(s['median_s']):>9.1f}{errors}")
    return "\n".join(lines)


def ingest(client: httpx.Client) -> dict[str, str]:
    """Uploads the three documents (one request each); returns document id -> file name."""
    sources = {}
    for name in DOCUMENTS:
        resp = client.post("/ingest", files=[("files", (name, (DATA / name).read_bytes()))])
        resp.raise_for_status()
        for doc in resp.json()["documents"]:
            sources[doc["id"]] = name
    return sources


def run(
    url: str, questions: list[Question], details: list[str], concurrency: int, report: Path | None
) -> dict[str, Any]:
    """Asks every question at each detail level; the report is rewritten after each level."""
    result: dict[str, Any] = {"url": url, "summaries": {}, "rows": {}}
    # Every answer is also appended to REPORT.progress.jsonl as it comes, for a run stopped half-way.
    progress = report.with_suffix(".progress.jsonl").open("w") if report else None
    with httpx.Client(base_url=url, timeout=3600) as client:
        texts = DocumentTexts(client, ingest(client))
        for detail in details:
            with ThreadPoolExecutor(concurrency) as pool:
                futures = [pool.submit(ask, client, texts, q, detail) for q in questions]
                rows = []
                for future in futures:  # in question order, so a stopped run's report is a fair prefix
                    rows.append(future.result())
                    if progress:
                        progress.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
                        progress.flush()
            result["rows"][detail] = rows
            result["summaries"][detail] = s = summary(rows)
            print(
                f"[{detail}] correct {s['correct']:.1%}, abstain unanswerable {s['abstain_unanswerable']:.1%}, "
                f"confidently wrong {s['confidently_wrong']:.1%}",
                file=sys.stderr,
                flush=True,
            )
            if report:
                report.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    if progress:
        progress.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="use this running server (the documents are ingested into it)")
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    parser.add_argument(
        "--detail",
        action="append",
        choices=["short", "normal", "detailed"],
        help="detail level to ask with (repeatable; default: short and normal)",
    )
    parser.add_argument("--limit", type=int, help="only the first N answerable and N unanswerable questions")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--report", type=Path, help="write every answer and the summaries here (JSON)")
    parser.add_argument("--ready-timeout", type=float, default=1800, help="seconds to wait for a started server")
    args = parser.parse_args()

    questions = load_questions(args.questions)
    if args.limit is not None:
        questions = [q for q in questions if q.answerable][: args.limit] + [q for q in questions if not q.answerable][
            : args.limit
        ]
    # A fixed shuffle mixes documents and answerable with unanswerable questions, so any prefix of a run
    # (--limit, or a run stopped early) covers them all.
    random.Random(0).shuffle(questions)
    details = args.detail or ["short", "normal"]
    if args.url:
        result = run(args.url, questions, details, args.concurrency, args.report)
    else:
        # Quality, not latency: a busy machine must not turn slow answers into 504s.
        with running_server(env={"RAG_REQUEST_TIMEOUT_S": "3600"}, ready_timeout=args.ready_timeout) as url:
            result = run(url, questions, details, args.concurrency, args.report)
    print(table(result["summaries"]))
    if args.report:
        print(f"per-question report: {args.report}")


if __name__ == "__main__":
    main()
