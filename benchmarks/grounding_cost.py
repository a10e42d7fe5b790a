"""What the grounding model costs on /ask, and what it buys on /search: one server, the model on and off per request.

Ingests the SQuAD 2.0 dev paragraphs, then

- asks ``--questions`` questions twice each, alternating the order, with the grounding model on (rerank and the
  reader step) and off (``rerank: false``, ``adjustments: {"reader": false}``), and prints /ask p50 and p95 of each
  and their ratio;
- runs every answerable question through /search, hybrid with and without reranking, and prints R@1, R@5 and
  MRR@10 of each.

    .venv/bin/python -m benchmarks.grounding_cost [--questions 40] [--candidates 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from benchmarks.common import ingest_paragraphs, load_squad, percentile, running_server, sample
from benchmarks.retrieval_quality import evaluate

ON: dict[str, object] = {}
OFF: dict[str, object] = {"rerank": False, "adjustments": {"reader": False}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=40, help="answerable + unanswerable questions for /ask, each")
    parser.add_argument("--candidates", type=int, default=20, help="RAG_RERANK_CANDIDATES for this run")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--skip-ask", action="store_true")
    args = parser.parse_args()

    squad = load_squad()
    env = {"RAG_RERANK_CANDIDATES": str(args.candidates)}
    with running_server(env) as url, httpx.Client(base_url=url, timeout=300) as client:
        ingest_paragraphs(client, squad.paragraphs)
        answerable = squad.answerable()
        t0 = time.perf_counter()
        plain = evaluate(client, answerable, "hybrid", rerank=False)
        t1 = time.perf_counter()
        reranked = evaluate(client, answerable, "hybrid", rerank=True)
        t2 = time.perf_counter()
        print(f"/search over {len(answerable)} answerable questions, hybrid, top {args.candidates} reranked")
        print(f"{'':>18} {'R@1':>6} {'R@5':>6} {'MRR@10':>7} {'ms/query':>9}")
        for name, fig, secs in (("hybrid", plain, t1 - t0), ("hybrid + rerank", reranked, t2 - t1)):
            ms = 1000 * secs / len(answerable)
            print(f"{name:>18} {fig['R@1']:6.3f} {fig['R@5']:6.3f} {fig['MRR@10']:7.3f} {ms:9.1f}")
        if args.skip_ask:
            return
        times: dict[str, list[float]] = {"on": [], "off": []}
        questions = sample(squad.questions, args.questions, args.seed)
        for i, q in enumerate(questions):
            order = [("on", ON), ("off", OFF)] if i % 2 == 0 else [("off", OFF), ("on", ON)]
            for name, extra in order:
                start = time.perf_counter()
                resp = client.post("/ask", json={"question": q.text, "detail": "short", **extra})
                resp.raise_for_status()
                times[name].append(time.perf_counter() - start)
        print(f"/ask, {len(questions)} questions each way (detail short), alternating order")
        for name in ("off", "on"):
            xs = times[name]
            print(f"  grounding {name:>3}: p50 {statistics.median(xs):.2f} s  p95 {percentile(xs, 95):.2f} s")
        ratio = statistics.median(times["on"]) / statistics.median(times["off"])
        print(f"  p50 ratio on/off: {ratio:.2f}")


if __name__ == "__main__":
    main()
