"""Search latency per retrieval mode and back end, with the query encoder as the baseline, in one run.

Two corpora (``--corpus``):

- ``python-docs``: the index ``benchmarks/ingest_throughput.py`` leaves in ``--data-dir`` (run it first).
  The PostgreSQL back end gets a copy of the very same documents, chunks and embeddings.
- ``synthetic``: ``--chunks`` generated chunks (pseudo-words drawn from a Zipf distribution, the most
  frequent being English stopwords; about 105 words or 600 characters a chunk, python-docs has 650) with random
  unit vectors in 1,000 clusters, stored through each back end's ``add_document``: nothing is encoded.

Both back ends are searched through ``RetrievalService.search`` in the same process, interleaved query by
query: p50/p95 with the query encoded (what a user meets) and with the vector given (the back end's own
cost), next to encoding one query alone. PostgreSQL (``--database-url``, an empty database; without it a
throwaway PostgreSQL 18 with fsync on) runs on this machine's cores too. Then, for ``python-docs``, flat
against HNSW on the same embeddings; with ``--replica-memory``, the resident memory of a real API server
process (generator and grounding model off, the embedding model loaded) on each back end, after start-up
and after ``--queries`` searches per mode, beside a server with an empty store.

    python -m benchmarks.search_latency --corpus python-docs --data-dir /tmp/rag-bench-index --queries 200
    python -m benchmarks.search_latency --corpus synthetic --chunks 200000 --queries 200 --replica-memory
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import BACKENDS, ServerProcess, database, process_memory_mib, retrieval_service, stored_texts
from retrieval.backend import NewDocument
from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.postgres.backend import PostgresBackend
from retrieval.service import RetrievalService
from retrieval.types import ChunkSpan, RetrievalMode
from retrieval.vector_index import FaissVectorIndex

TENANT = "bench"  # ingest_throughput.py's tenant; the synthetic corpus uses it too
# A replica that searches: no generator (a remote one that is never called) and no grounding model.
REPLICA_ENV = {
    "RAG_GENERATOR_BACKEND": "openai",
    "RAG_REMOTE_BASE_URL": "http://127.0.0.1:9/v1",
    "RAG_GROUNDING": "false",
    "RAG_DEFAULT_TENANT": TENANT,
}
# The most frequent words of the synthetic text, most frequent first: stopwords in both back ends.
STOPWORDS = (
    *("the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by"),
    *("this", "are", "at", "from", "or", "an", "which", "have", "not", "but", "has", "were", "they", "their"),
    *("its", "been", "can", "all", "will", "there", "more", "if", "no", "when", "so", "what", "about", "who"),
    *("into", "than", "them", "these"),
)


def pct(ms: list[float]) -> str:
    p50, p95 = np.percentile(ms, [50, 95])
    return f"p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"


# --- corpora -------------------------------------------------------------------------------------


def stored_documents(source: EmbeddedBackend, tenant: str, dimension: int) -> Iterator[NewDocument]:
    """Every document of ``tenant`` in an embedded store, with its chunks and stored embeddings."""
    ids, vectors = source.store.load_embeddings(tenant, dimension)
    chunks = {}
    for i in range(0, ids.size, 5000):
        chunks.update(source.store.get_chunks(tenant, ids[i : i + 5000].tolist()))
    by_document: dict[str, list[int]] = {}
    for row, chunk_id in enumerate(ids.tolist()):
        by_document.setdefault(chunks[chunk_id].document_id, []).append(row)
    for document_id, rows in by_document.items():
        doc = source.store.get_document(tenant, document_id)
        spans = [chunks[int(ids[r])] for r in rows]
        yield NewDocument(
            document_id=doc.id,
            tenant=tenant,
            collection=doc.collection,
            source=doc.source,
            sha256=doc.sha256,
            metadata=doc.metadata,
            text=source.store.get_document_text(tenant, document_id),
            spans=[ChunkSpan(text=c.text, start=c.start, end=c.end, page=c.page) for c in spans],
            vectors=vectors[rows],
        )


def synthetic_documents(
    n_chunks: int, dimension: int, *, per_document: int = 50, seed: int = 0
) -> Iterator[NewDocument]:
    """``n_chunks`` generated chunks, ``per_document`` to a document, with random unit vectors in 1,000
    clusters; deterministic."""
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]
    words = dict.fromkeys(STOPWORDS)
    while len(words) < 30_000:
        words.setdefault("".join(rng.choice(syllables, size=rng.integers(2, 5))), None)
    vocab = np.array(list(words))
    p = 1.0 / (np.arange(vocab.size) + 2.7) ** 1.07  # Zipf-Mandelbrot, as word frequencies in English text
    p /= p.sum()
    centres = rng.standard_normal((1000, dimension), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)  # (1000, D)
    for d, first in enumerate(range(0, n_chunks, per_document)):
        count = min(per_document, n_chunks - first)
        lengths = rng.integers(80, 131, size=count)
        drawn = vocab[rng.choice(vocab.size, size=int(lengths.sum()), p=p)]
        texts = [" ".join(ws) for ws in np.split(drawn, np.cumsum(lengths)[:-1])]
        spans, start = [], 0
        for t in texts:
            spans.append(ChunkSpan(text=t, start=start, end=start + len(t), page=None))
            start += len(t) + 2
        text = "\n\n".join(texts)
        # Around random centres, as real embeddings bunch by topic (cosine to the centre about 0.7).
        noise = rng.standard_normal((count, dimension), dtype=np.float32) / np.sqrt(dimension)
        vectors = centres[rng.integers(0, len(centres), size=count)] + noise  # (count, D)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield NewDocument(
            document_id=f"synthetic{d:07d}",
            tenant=TENANT,
            collection="synthetic",
            source=f"synthetic-{d:07d}.txt",
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            metadata={},
            text=text,
            spans=spans,
            vectors=vectors,
        )


def fill(svc: RetrievalService, documents: Iterator[NewDocument]) -> tuple[int, float]:
    """Store ``documents`` through the back end and bring its statistics up to date; (chunks stored, seconds)."""
    t0, n = time.perf_counter(), 0
    for new in documents:
        svc.backend.add_document(new)
        n += len(new.spans)
    if isinstance(svc.backend, EmbeddedBackend):
        svc.backend.maybe_switch_to_ann()  # what the server's snapshot thread does past RAG_ANN_THRESHOLD
    if isinstance(svc.backend, PostgresBackend):
        # What autovacuum does within a minute or so. Before it, the planner misjudges the tenant filter
        # and answers hybrid's depth-50 dense search by an exact scan (37 ms at 22k python-docs chunks).
        with svc.backend.db.connection() as conn:
            conn.execute("ANALYZE")
    return n, time.perf_counter() - t0


# --- measurements --------------------------------------------------------------------------------


def latency(services: dict[str, RetrievalService], queries: list[str], modes: list[RetrievalMode], k: int) -> None:
    """p50/p95 per back end and mode, encoding included and vector given; the back ends take turns per query."""
    any_service = next(iter(services.values()))
    encode_ms, vectors = [], []
    for q in queries:
        t0 = time.perf_counter()
        vectors.append(any_service.encode_queries([q])[0])
        encode_ms.append((time.perf_counter() - t0) * 1000)
    print(f"baseline, encode one query: {pct(encode_ms)}")

    timed: dict[tuple[str, RetrievalMode, bool], list[float]] = {}
    dense_hits: dict[str, list[set[tuple[str, int]]]] = {b: [] for b in services}
    for svc in services.values():
        for mode in modes:  # warm: the embedded BM25 index builds on its first search
            svc.search(TENANT, queries[0], top_k=k, mode=mode, query_vector=vectors[0])
    for q, v in zip(queries, vectors, strict=True):
        for mode in modes:
            for backend, svc in services.items():
                for given in (False, True):
                    t0 = time.perf_counter()
                    hits = svc.search(TENANT, q, top_k=k, mode=mode, query_vector=v if given else None)
                    timed.setdefault((backend, mode, given), []).append((time.perf_counter() - t0) * 1000)
                    if given and mode is RetrievalMode.DENSE:
                        dense_hits[backend].append({(h.chunk.document_id, h.chunk.start) for h in hits})
    for mode in modes:
        for backend in services:
            print(
                f"search {mode.value:<6} {backend:<8}  encoding included: {pct(timed[backend, mode, False])}"
                f"   vector given: {pct(timed[backend, mode, True])}"
            )
    if "embedded" in services and "postgres" in services and RetrievalMode.DENSE in modes:
        pairs = zip(dense_hits["postgres"], dense_hits["embedded"], strict=True)
        agree = np.mean([len(a & b) / max(1, len(b)) for a, b in pairs])
        print(f"dense top-{k}: postgres finds {agree:.3f} of the embedded back end's hits")


def flat_against_hnsw(source: EmbeddedBackend, dimension: int, vectors: np.ndarray) -> None:
    """Exact and HNSW FAISS search on the stored embeddings: latency, and HNSW recall@10."""
    store_ids, embs = source.store.load_embeddings(TENANT, dimension)
    results = {}
    for kind in ("flat", "hnsw"):
        idx = FaissVectorIndex(dimension, kind)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        idx.add(store_ids, embs)
        build = time.perf_counter() - t0
        ms, found = [], []
        for v in vectors:
            t0 = time.perf_counter()
            got, _ = idx.search(v, 10)
            ms.append((time.perf_counter() - t0) * 1000)
            found.append(set(got.tolist()))
        results[kind] = found
        print(f"vector index {kind:<4} (n={len(idx)}, build {build:5.1f} s): {pct(ms)}")
    recall = np.mean([len(a & b) / 10 for a, b in zip(results["hnsw"], results["flat"], strict=True)])
    print(f"HNSW recall@10 vs flat on these embeddings: {recall:.3f}")


def replica_memory(name: str, data_dir: Path, env: dict[str, str], queries: list[str], modes: list[str]) -> None:
    """Resident memory of a real server process after start-up and after searching every query in every mode."""
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(data_dir, Path(tmp) / "server.log", {**REPLICA_ENV, **env})
        try:
            t0 = time.perf_counter()
            server.ready_or_raise(1800)
            started = time.perf_counter() - t0
            ready, _ = process_memory_mib(server.proc.pid)
            with httpx.Client(base_url=server.url, timeout=300) as client:
                for q in queries:
                    for mode in modes:
                        r = client.post("/search", json={"query": q, "top_k": 5, "retrieval_mode": mode})
                        r.raise_for_status()
            after, peak = process_memory_mib(server.proc.pid)
        finally:
            server.stop()
    print(
        f"replica RSS {name:<18}: ready {ready:6.0f} MiB (start-up {started:5.1f} s)   after searches {after:6.0f} MiB"
        f"   peak {peak:6.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", choices=["python-docs", "synthetic"], default="python-docs")
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded store: python-docs reads ingest_throughput's (default /tmp/rag-bench-index); "
        "synthetic rebuilds it (default /tmp/rag-bench-synthetic)",
    )
    ap.add_argument("--chunks", type=int, default=200_000, help="synthetic chunks")
    ap.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    ap.add_argument("--database-url", default=None, help="an empty PostgreSQL database with pgvector >= 0.8")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--modes", default="dense,bm25,hybrid")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--replica-memory", action="store_true", help="also measure real server processes' RSS")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    modes = [RetrievalMode(m) for m in args.modes.split(",")]
    synthetic = args.corpus == "synthetic"
    data_dir = args.data_dir or Path("/tmp/rag-bench-synthetic" if synthetic else "/tmp/rag-bench-index")

    encoder = SentenceTransformerEncoder(device=args.device)
    source = retrieval_service("embedded", encoder, data_dir=data_dir) if not synthetic else None
    if synthetic:
        shutil.rmtree(data_dir, ignore_errors=True)
    elif source is None or not source.stats()["chunks"]:
        raise SystemExit(f"no chunks in {data_dir}: run benchmarks/ingest_throughput.py first")

    db: AbstractContextManager[str | None] = database(args.database_url) if "postgres" in backends else nullcontext()
    with db as url:
        services: dict[str, RetrievalService] = {}
        for backend in backends:
            if backend == "embedded" and source is not None:
                services[backend] = source
                continue
            svc = retrieval_service(backend, encoder, data_dir=data_dir, database_url=url)
            if svc.stats()["chunks"]:
                raise SystemExit(f"{backend}: the store is not empty; give an empty database")
            if synthetic:
                documents = synthetic_documents(args.chunks, encoder.dimension)
            else:
                assert source is not None and isinstance(source.backend, EmbeddedBackend)
                documents = stored_documents(source.backend, TENANT, encoder.dimension)
            n, seconds = fill(svc, documents)
            print(f"filled {backend}: {n} chunks in {seconds:.1f} s ({n / seconds:.0f} chunks/s, nothing encoded)")
            services[backend] = svc
        if source is not None and "embedded" not in services:
            source.close()

        first = next(iter(services.values()))
        _, texts = stored_texts(first, TENANT)
        rng = np.random.default_rng(0)
        queries = [" ".join(texts[i].split()[:8]) for i in rng.integers(0, len(texts), args.queries)]
        print(
            f"corpus {args.corpus}: {len(texts)} chunks, {args.queries} queries, top_k={args.top_k}, "
            f"device {encoder.device}"
        )
        latency(services, queries, modes, args.top_k)
        if not synthetic and "embedded" in services:
            backend = services["embedded"].backend
            assert isinstance(backend, EmbeddedBackend)
            flat_against_hnsw(backend, encoder.dimension, encoder.encode(queries))
        for svc in services.values():
            svc.close()  # the embedded back end writes its snapshot here, which a server then loads

        if args.replica_memory:
            mode_names = [m.value for m in modes]
            with tempfile.TemporaryDirectory() as empty:
                replica_memory("empty store", Path(empty), {}, queries, mode_names)
            if "embedded" in backends:
                replica_memory("embedded", data_dir, {}, queries, mode_names)
            if "postgres" in backends:
                assert url is not None
                with tempfile.TemporaryDirectory() as unused:
                    replica_memory("postgres", Path(unused), {"RAG_DATABASE_URL": url}, queries, mode_names)


if __name__ == "__main__":
    main()
