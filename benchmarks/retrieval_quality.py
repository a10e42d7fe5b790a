"""Retrieval quality on SQuAD 2.0 through the real HTTP service: R@1/5/10 and MRR@10 per mode.

Each paragraph of the data set is ingested through POST /ingest as its own file (p0000.txt, ...
in file order); every answerable question goes to POST /search; the gold file is the paragraph
the question belongs to. All three modes run side by side against the same index.

    .venv/bin/python -m benchmarks.retrieval_quality
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx

from benchmarks.common import SQUAD, Question, ingest_paragraphs, load_squad, running_server


def evaluate(
    client: httpx.Client, questions: list[Question], mode: str, rerank: bool | None = None
) -> dict[str, float]:
    """R@1/5/10 and MRR@10 of each question's own paragraph; ``rerank`` None leaves the server's default."""
    hits_at = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    extra = {} if rerank is None else {"rerank": rerank}
    for q in questions:
        resp = client.post("/search", json={"query": q.text, "top_k": 10, "retrieval_mode": mode, **extra})
        resp.raise_for_status()
        ranked: list[str] = []
        for r in resp.json()["results"]:  # several chunks of one file count once
            if r["source"] not in ranked:
                ranked.append(r["source"])
        target = f"p{q.paragraph:04d}.txt"
        if target in ranked:
            rank = ranked.index(target) + 1
            rr += 1.0 / rank
            for k in hits_at:
                hits_at[k] += rank <= k
    n = len(questions)
    return {"R@1": hits_at[1] / n, "R@5": hits_at[5] / n, "R@10": hits_at[10] / n, "MRR@10": rr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SQUAD)
    args = parser.parse_args()
    squad = load_squad(args.data)
    paragraphs, questions = squad.paragraphs, squad.answerable()
    with running_server() as url, httpx.Client(base_url=url, timeout=120) as client:
        t0 = time.perf_counter()
        ingest_paragraphs(client, paragraphs)
        print(f"ingested {len(paragraphs)} paragraphs in {time.perf_counter() - t0:.1f} s")
        print(f"{len(questions)} answerable questions")
        print(f"{'mode':8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
        for mode in ("dense", "bm25", "hybrid"):
            m = evaluate(client, questions, mode)
            print(f"{mode:8} {m['R@1']:6.3f} {m['R@5']:6.3f} {m['R@10']:6.3f} {m['MRR@10']:7.3f}")


if __name__ == "__main__":
    main()
