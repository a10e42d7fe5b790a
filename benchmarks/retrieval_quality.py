"""Retrieval quality on SQuAD 2.0 through the real HTTP service: R@1/5/10 and MRR@10 per mode.

Each paragraph of the data set is ingested through POST /ingest as its own file (p0000.txt, ...
in file order); every answerable question goes to POST /search; the gold file is the paragraph
the question belongs to. All three modes run side by side against the same index.

    .venv/bin/python -m benchmarks.retrieval_quality
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx

from benchmarks.server import SQUAD, running_server


def load_squad(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Paragraph texts, and (question, gold paragraph index) for every answerable question."""
    data = json.loads(path.read_text())
    paragraphs: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            idx = len(paragraphs)
            paragraphs.append(para["context"])
            questions.extend((qa["question"], idx) for qa in para["qas"] if not qa.get("is_impossible"))
    return paragraphs, questions


def ingest_paragraphs(client: httpx.Client, paragraphs: list[str]) -> None:
    for i, text in enumerate(paragraphs):
        resp = client.post("/ingest", files=[("files", (f"p{i:04d}.txt", text.encode()))])
        resp.raise_for_status()


def evaluate(client: httpx.Client, questions: list[tuple[str, int]], mode: str) -> dict[str, float]:
    hits_at = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    for question, gold in questions:
        resp = client.post("/search", json={"query": question, "top_k": 10, "retrieval_mode": mode})
        resp.raise_for_status()
        ranked: list[str] = []
        for r in resp.json()["results"]:  # several chunks of one file count once
            if r["source"] not in ranked:
                ranked.append(r["source"])
        target = f"p{gold:04d}.txt"
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
    paragraphs, questions = load_squad(args.data)
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
