"""Search latency per retrieval mode on an ingested corpus, with the query encoder as the baseline.

Run ``benchmarks/ingest_throughput.py`` first (it leaves its index in --data-dir). Queries are the
first words of randomly picked stored chunks. For each mode it reports p50/p95 of
``RetrievalService.search`` with a precomputed query vector (the HTTP layer batches query encoding),
next to the cost of encoding one query alone; then, on the same stored embeddings, flat vs HNSW
latency and HNSW recall@10 (the real-embedding data point behind the ``ann_threshold`` default).

    .venv/bin/python benchmarks/search_latency.py --data-dir /tmp/rag-bench-index --queries 200
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode
from retrieval.vector_index import FaissVectorIndex

TENANT = "bench"


def pct(ms: list[float]) -> str:
    p50, p95 = np.percentile(ms, [50, 95])
    return f"p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-index"))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    encoder = SentenceTransformerEncoder(device=args.device)
    svc = RetrievalService(backend=EmbeddedBackend(args.data_dir, save_interval_s=0), encoder=encoder)
    svc.load()
    _ids, texts, _ = svc.backend.store.load_texts(TENANT)
    if not texts:
        raise SystemExit(f"no chunks for tenant {TENANT!r} in {args.data_dir}: run ingest_throughput.py first")
    rng = np.random.default_rng(0)
    queries = [" ".join(texts[i].split()[:8]) for i in rng.integers(0, len(texts), args.queries)]
    print(f"corpus: {len(texts)} chunks, {args.queries} queries, top_k={args.top_k}, device {encoder.device}")

    encode_ms = []
    vectors = []
    for q in queries:
        t0 = time.perf_counter()
        vectors.append(svc.encode_queries([q])[0])
        encode_ms.append((time.perf_counter() - t0) * 1000)
    print(f"baseline, encode one query      : {pct(encode_ms)}")

    for mode in RetrievalMode:
        svc.search(TENANT, queries[0], top_k=args.top_k, mode=mode, query_vector=vectors[0])  # warm (BM25 build)
        ms = []
        for q, v in zip(queries, vectors, strict=True):
            t0 = time.perf_counter()
            svc.search(TENANT, q, top_k=args.top_k, mode=mode, query_vector=v)
            ms.append((time.perf_counter() - t0) * 1000)
        print(f"search {mode.value:<7} (vector given) : {pct(ms)}")
    ms = []
    for q in queries:
        t0 = time.perf_counter()
        svc.search(TENANT, q, top_k=args.top_k, mode=RetrievalMode.HYBRID)
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"search hybrid, encoding included: {pct(ms)}")

    # Flat vs HNSW on the real embeddings.
    store_ids, embs = svc.backend.store.load_embeddings(TENANT, encoder.dimension)
    svc.close()
    qv = np.stack(vectors)
    results = {}
    for kind in ("flat", "hnsw"):
        idx = FaissVectorIndex(encoder.dimension, kind)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        idx.add(store_ids, embs)
        build = time.perf_counter() - t0
        ms, found = [], []
        for v in qv:
            t0 = time.perf_counter()
            got, _ = idx.search(v, 10)
            ms.append((time.perf_counter() - t0) * 1000)
            found.append(set(got.tolist()))
        results[kind] = found
        print(f"vector index {kind:<4} (n={len(idx)}, build {build:5.1f} s): {pct(ms)}")
    recall = np.mean([len(a & b) / 10 for a, b in zip(results["hnsw"], results["flat"], strict=True)])
    print(f"HNSW recall@10 vs flat on real embeddings: {recall:.3f}")


if __name__ == "__main__":
    main()
