"""End-to-end ingest throughput against the raw encoder on the same chunks (the baseline), in one run.

Ingests Debian's python3.11-doc HTML (``apt-get install -y python3.11-doc``) through
``RetrievalService.ingest`` (parse, chunk, encode, SQLite, FAISS, BM25), then encodes the very chunk
texts that were stored with ``encoder.encode`` alone. Prints docs/s, chunks/s, peak RSS and the ratio
end-to-end time / raw encoder time (target: at most 1.25).

    .venv/bin/python benchmarks/ingest_throughput.py --data-dir /tmp/bench-index [--limit 200]

The data dir is kept, so ``benchmarks/search_latency.py --data-dir`` can reuse the index.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import statistics
import time
from pathlib import Path

from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.errors import RetrievalError
from retrieval.service import RetrievalService

TENANT, COLLECTION = "bench", "python-docs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=Path, default=Path("/usr/share/doc/python3.11/html"))
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-index"))
    ap.add_argument("--limit", type=int, default=0, help="ingest only the first N files (0 = all)")
    ap.add_argument("--files-per-request", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1, help="raw-encoder repeats (median is used)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    files = sorted(p for p in args.docs.rglob("*.html") if p.is_file())
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"no .html files under {args.docs}: apt-get install -y python3.11-doc")
    payload = [(p.name, p.read_bytes()) for p in files]
    total_bytes = sum(len(b) for _, b in payload)

    shutil.rmtree(args.data_dir, ignore_errors=True)
    encoder = SentenceTransformerEncoder(device=args.device, batch_size=args.batch_size)
    svc = RetrievalService(backend=EmbeddedBackend(args.data_dir), encoder=encoder)
    svc.load()
    encoder.encode(["warm-up sentence"] * 8)  # both timings start from a warm model

    skipped = 0
    t0 = time.perf_counter()
    for i in range(0, len(payload), args.files_per_request):
        batch = payload[i : i + args.files_per_request]
        try:
            svc.ingest(tenant=TENANT, collection=COLLECTION, files=batch)
        except RetrievalError:
            # One bad file fails its whole request: retry the rest one by one, as a client would.
            for item in batch:
                try:
                    svc.ingest(tenant=TENANT, collection=COLLECTION, files=[item])
                except RetrievalError:
                    skipped += 1
    e2e = time.perf_counter() - t0
    stats = svc.stats()
    svc.close()
    docs, chunks = stats["documents"], stats["chunks"]

    # Baseline: the encoder alone on exactly the stored chunk texts.
    svc2 = RetrievalService(backend=EmbeddedBackend(args.data_dir, save_interval_s=0), encoder=encoder)
    svc2.load()
    _, texts, _ = svc2.backend.store.load_texts(TENANT)
    svc2.close()
    raw_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        encoder.encode(texts)
        raw_times.append(time.perf_counter() - t0)
    raw = statistics.median(raw_times)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"device {encoder.device}, batch {args.batch_size}, {args.files_per_request} files per ingest call")
    print(f"input: {len(payload)} files, {total_bytes / 1e6:.1f} MB; skipped {skipped} unparseable/empty")
    print(f"stored: {docs} documents, {chunks} chunks, {sum(len(t) for t in texts) / 1e6:.1f} M chunk chars")
    print(f"end-to-end ingest : {e2e:8.1f} s  {docs / e2e:7.2f} docs/s  {chunks / e2e:7.1f} chunks/s")
    print(f"raw encoder (base): {raw:8.1f} s  {'':>13}  {chunks / raw:7.1f} chunks/s  (median of {args.repeats})")
    print(f"ratio end-to-end / raw encoder: {e2e / raw:.3f}  (pipeline overhead {100 * (e2e / raw - 1):+.1f}%)")
    print(f"peak RSS: {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
