"""Where does HNSW start to beat exact (flat) search? Sets the default of RAG_ANN_THRESHOLD.

Random unit vectors of the encoder's dimension (384); for each corpus size it builds a flat and an
HNSW ``FaissVectorIndex`` and reports build time, median and p95 single-query latency of both
(baseline = flat, side by side), the speed-up, and HNSW recall@10 against the exact answer.

    .venv/bin/python benchmarks/ann_threshold.py --sizes 10000 50000 200000 --queries 200
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from retrieval.vector_index import FaissVectorIndex


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def latencies(index: FaissVectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        ids, _ = index.search(q, k)
        times.append(time.perf_counter() - t0)
        results.append(ids)
    return np.array(times) * 1000, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="faiss OpenMP threads (0 = library default)")
    args = ap.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"faiss {faiss.__version__}, dim {args.dim}, {args.queries} single queries, k={args.k}")
    header = (
        f"{'n':>8} {'flat build s':>12} {'hnsw build s':>12} {'flat p50 ms':>11} {'flat p95 ms':>11} "
        f"{'hnsw p50 ms':>11} {'hnsw p95 ms':>11} {'speed-up':>8} {'recall@10':>9}"
    )
    print(header)
    for n in args.sizes:
        data = unit(rng, n, args.dim)
        # Queries near the data (a perturbed stored vector), as real queries are near their passages.
        pick = rng.integers(0, n, args.queries)
        queries = data[pick] + 0.5 * unit(rng, args.queries, args.dim)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        ids = np.arange(n, dtype=np.int64)
        t0 = time.perf_counter()
        flat = FaissVectorIndex(args.dim, "flat")
        flat.add(ids, data)
        flat_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        hnsw = FaissVectorIndex(args.dim, "hnsw")
        hnsw.add(ids, data)
        hnsw_build = time.perf_counter() - t0
        flat_ms, truth = latencies(flat, queries, args.k)
        hnsw_ms, approx = latencies(hnsw, queries, args.k)
        recall = np.mean([len(set(a.tolist()) & set(t.tolist())) / args.k for a, t in zip(approx, truth, strict=True)])
        f50, f95 = np.percentile(flat_ms, [50, 95])
        h50, h95 = np.percentile(hnsw_ms, [50, 95])
        print(
            f"{n:>8} {flat_build:>12.2f} {hnsw_build:>12.2f} {f50:>11.3f} {f95:>11.3f} "
            f"{h50:>11.3f} {h95:>11.3f} {f50 / h50:>7.1f}x {recall:>9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
