"""The grounding model alone on SQuAD 2.0 dev (never trained on), with the official metric, and its speed.

For every question the model reads the question's own paragraph. The answer is the best span when the calibrated
answerability reaches the artifact's threshold (both chosen on the training run's validation articles), else "no
answer". Prints EM and F1 with no-answer, HasAns EM/F1 and NoAns accuracy (0-100, as the SQuAD anchors), the same
with the best threshold for this set (an oracle, for reference only), and rerank throughput in passages/s.

    .venv/bin/python -m benchmarks.grounding_reader [--data squad2-dev-3articles.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks.common import SQUAD
from grounding import DEFAULT_ARTIFACT_DIR, GroundingReader
from grounding.metric import best_over_golds
from grounding.squad import read_squad

DEFAULT_DATA = SQUAD


def score(rows: list[dict[str, object]], answered: list[bool]) -> dict[str, float]:
    em, f1, has_em, has_f1, no_acc = [], [], [], [], []
    for row, says in zip(rows, answered, strict=True):
        golds = row["answers"]
        assert isinstance(golds, tuple)
        pred = str(row["text"]) if says else ""
        e, f = best_over_golds(golds, pred)
        em.append(e)
        f1.append(f)
        if golds:
            has_em.append(e)
            has_f1.append(f)
        else:
            no_acc.append(e)
    mean = statistics.fmean
    return {
        "EM": 100 * mean(em),
        "F1": 100 * mean(f1),
        "HasAns_EM": 100 * mean(has_em),
        "HasAns_F1": 100 * mean(has_f1),
        "NoAns_acc": 100 * mean(no_acc),
        "questions": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT_DIR)
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    reader = GroundingReader(args.artifact, device="cpu")
    reader.load()
    questions = list(read_squad(args.data))
    if args.limit:
        questions = questions[: args.limit]
    rows: list[dict[str, object]] = []
    for q in questions:
        result = reader.read(q.question, [q.context])
        best = result.best
        text = q.context[best.start : best.end] if best else ""
        rows.append({"answers": q.answers, "text": text, "p": result.answerable})
    threshold = reader.calibration.threshold
    calibrated = score(rows, [float(str(r["p"])) >= threshold for r in rows])
    oracle = max(
        (score(rows, [float(str(r["p"])) >= t for r in rows]) for t in [i / 100 for i in range(1, 100)]),
        key=lambda s: s["F1"],
    )

    passages = [q.context for q in questions[:200]]
    start = time.perf_counter()
    for lo in range(0, len(passages), 20):
        reader.rerank_scores("What does the passage say?", passages[lo : lo + 20])
    per_s = len(passages) / (time.perf_counter() - start)

    figures = {
        "calibrated_threshold": threshold,
        "calibrated": calibrated,
        "oracle": oracle,
        "rerank_passages_per_s": per_s,
    }
    print(f"SQuAD 2.0 dev ({args.data.name}), {len(rows)} questions, artifact {args.artifact}")
    print(f"{'':>22} {'EM':>6} {'F1':>6} {'HasAns EM':>10} {'HasAns F1':>10} {'NoAns acc':>10}")
    for name, s in ((f"calibrated (p>={threshold:.2f})", calibrated), ("oracle threshold", oracle)):
        cells = f"{s['EM']:6.1f} {s['F1']:6.1f} {s['HasAns_EM']:10.1f} {s['HasAns_F1']:10.1f}"
        print(f"{name:>22} {cells} {s['NoAns_acc']:10.1f}")
    print(f"rerank throughput: {per_s:.1f} passages/s (batches of 20 SQuAD paragraphs, CPU)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
