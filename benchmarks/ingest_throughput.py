"""End-to-end ingest throughput against the raw encoder on the same chunks (the baseline), in one run.

Ingests Debian's python3.11-doc HTML (``apt-get install -y python3.11-doc``) through
``RetrievalService.ingest`` (parse, chunk, encode, store and index), ``--files-per-request`` files a call,
and after each call encodes the very chunk texts that call stored with ``encoder.encode`` alone, so a
change in the machine's load meets both timings alike. Prints docs/s, chunks/s, peak RSS and the ratio
end-to-end / raw encoder (target: at most 1.25), in wall time and in CPU time (the ingesting process's,
plus the PostgreSQL server processes' when the server runs on this machine), for each back end: embedded
(SQLite, FAISS, BM25) and PostgreSQL + pgvector (``--database-url``, an empty database; without it a
throwaway PostgreSQL 18 with fsync on). Each run is a fresh child process, so its peak RSS is its own;
the PostgreSQL server's memory is not in it.

    python -m benchmarks.ingest_throughput --data-dir /tmp/rag-bench-index [--limit 200] [--backend both]

The embedded data dir is kept, so ``benchmarks/search_latency.py --data-dir`` can reuse the index.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import shutil
import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from benchmarks.common import BACKENDS, database, retrieval_service, stored_texts
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.errors import RetrievalError
from retrieval.postgres.backend import PostgresBackend
from retrieval.service import RetrievalService

TENANT, COLLECTION = "bench", "python-docs"


def _database_cpu_s(svc: RetrievalService) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL server process serving this database, when it runs here."""
    if not isinstance(svc.backend, PostgresBackend):
        return None
    with svc.backend.db.connection() as conn:
        pids = [int(r[0]) for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None  # the server runs elsewhere
        out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return out


def _ingest(svc: RetrievalService, batch: list[tuple[str, bytes]]) -> int:
    """Ingest one request's files; returns how many were skipped."""
    try:
        svc.ingest(tenant=TENANT, collection=COLLECTION, files=batch)
        return 0
    except RetrievalError:
        # One bad file fails its whole request: retry the rest one by one, as a client would.
        skipped = 0
        for item in batch:
            try:
                svc.ingest(tenant=TENANT, collection=COLLECTION, files=[item])
            except RetrievalError:
                skipped += 1
        return skipped


def run_one(backend: str, files: list[Path], args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    """Ingest ``files`` into a fresh store of ``backend``, timing the raw encoder on each call's stored chunks."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    payload = [(p.name, p.read_bytes()) for p in files]
    if backend == "embedded":
        shutil.rmtree(args.data_dir, ignore_errors=True)
    encoder = SentenceTransformerEncoder(device=args.device, batch_size=args.batch_size)
    svc = retrieval_service(backend, encoder, data_dir=args.data_dir, database_url=database_url)
    if svc.stats()["chunks"]:
        svc.close()
        raise SystemExit(f"{backend}: the store is not empty; give an empty database")
    encoder.encode(["warm-up sentence"] * 8)  # both timings start from a warm model

    skipped, chars, last_id = 0, 0, 0
    e2e = e2e_cpu = raw = raw_cpu = 0.0
    db_before = _database_cpu_s(svc)
    for i in range(0, len(payload), args.files_per_request):
        batch = payload[i : i + args.files_per_request]
        cpu0, t0 = time.process_time(), time.perf_counter()
        skipped += _ingest(svc, batch)
        e2e, e2e_cpu = e2e + time.perf_counter() - t0, e2e_cpu + time.process_time() - cpu0
        # The baseline right after, so that the machine's load changes hit both alike: the encoder alone on
        # exactly the chunk texts this call stored.
        ids, texts = stored_texts(svc, TENANT, after_id=last_id)
        if not ids:
            continue
        last_id, chars = ids[-1], chars + sum(len(t) for t in texts)
        cpu0, t0 = time.process_time(), time.perf_counter()
        encoder.encode(texts)
        raw, raw_cpu = raw + time.perf_counter() - t0, raw_cpu + time.process_time() - cpu0
    db_after = _database_cpu_s(svc)
    db_cpu = None
    if db_before is not None and db_after is not None:
        db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
    stats = svc.stats()
    svc.close()
    return {
        "device": str(encoder.device),
        "bytes": sum(len(b) for _, b in payload),
        "skipped": skipped,
        "docs": stats["documents"],
        "chunks": stats["chunks"],
        "chars": chars,
        "e2e": e2e,
        "raw": raw,
        "e2e_cpu": e2e_cpu + (db_cpu or 0.0),
        "db_cpu": db_cpu,
        "raw_cpu": raw_cpu,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=Path, default=Path("/usr/share/doc/python3.11/html"))
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-index"))
    ap.add_argument("--limit", type=int, default=0, help="ingest only the first N files (0 = all)")
    ap.add_argument("--files-per-request", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each back end, interleaved (medians are used)")
    ap.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    ap.add_argument("--database-url", default=None, help="an empty PostgreSQL database with pgvector >= 0.8")
    args = ap.parse_args()

    files = sorted(p for p in args.docs.rglob("*.html") if p.is_file())
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"no .html files under {args.docs}: apt-get install -y python3.11-doc")
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    if args.database_url and args.repeats > 1 and "postgres" in backends:
        raise SystemExit("--repeats > 1 needs an empty database per run: leave out --database-url")

    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    # A fresh process per run: its peak RSS is its own, and no model or index is carried over.
    spawn = multiprocessing.get_context("spawn")
    for _ in range(args.repeats):
        for backend in backends:
            db: AbstractContextManager[str | None] = (
                database(args.database_url) if backend == "postgres" else nullcontext()
            )
            with db as url, ProcessPoolExecutor(1, mp_context=spawn) as pool:
                r = pool.submit(run_one, backend, files, args, url).result()
            runs[backend].append(r)
            print(
                f"run {len(runs[backend])} {backend}: ingest {r['e2e']:.1f} s, raw encoder {r['raw']:.1f} s, ratio "
                f"{r['e2e'] / r['raw']:.3f} wall, {r['e2e_cpu'] / r['raw_cpu']:.3f} CPU",
                flush=True,
            )

    first = runs[backends[0]][0]
    print(f"device {first['device']}, batch {args.batch_size}, {args.files_per_request} files per ingest call")
    print(f"input: {len(files)} files, {first['bytes'] / 1e6:.1f} MB; {args.repeats} run(s) per back end, medians")
    for backend, rs in runs.items():
        r = rs[0]
        docs, chunks = r["docs"], r["chunks"]
        med = {k: statistics.median(x[k] for x in rs) for k in ("e2e", "raw", "e2e_cpu", "raw_cpu", "rss_mib")}
        wall = [x["e2e"] / x["raw"] for x in rs]
        cpu = [x["e2e_cpu"] / x["raw_cpu"] for x in rs]
        db_cpu = [x["db_cpu"] for x in rs if x["db_cpu"] is not None]
        of_which = f" (database server {statistics.median(db_cpu):.1f} s of it)" if db_cpu else ""
        print(f"{backend}: stored {docs} documents, {chunks} chunks, {r['chars'] / 1e6:.1f} M chunk chars;", end=" ")
        print(f"skipped {r['skipped']} unparseable/empty")
        e2e, raw = med["e2e"], med["raw"]
        print(f"  end-to-end ingest : {e2e:8.1f} s  {docs / e2e:7.2f} docs/s  {chunks / e2e:7.1f} chunks/s")
        print(f"  raw encoder (base): {raw:8.1f} s  {'':>13}  {chunks / raw:7.1f} chunks/s")
        print(f"  ratio end-to-end / raw encoder, wall: {statistics.median(wall):.3f}  (runs: {_fmt(wall)})")
        print(f"  ratio end-to-end / raw encoder, CPU : {statistics.median(cpu):.3f}  (runs: {_fmt(cpu)})")
        print(f"  CPU time: ingest {med['e2e_cpu']:.1f} s{of_which}, raw encoder {med['raw_cpu']:.1f} s")
        print(f"  peak RSS of the ingesting process: {med['rss_mib']:.0f} MiB")


def _fmt(values: Iterable[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
