"""Crash test: SIGKILL the real server at random moments while it ingests, restart, check nothing acknowledged is lost.

Each cycle starts ``uvicorn app.main:app`` on the same data folder, ingests small distinct .txt documents
(one per ``POST /ingest``, each with a unique marker word in every sentence) from a client thread, and
SIGKILLs the server after a random delay. Some kills land while the server is still starting (loading
the store and rebuilding indexes). After every restart that reaches ready it checks:

* every acknowledged document (a 200 was received) is listed by ``GET /documents`` with the chunk
  count that was acknowledged, and the store (read-only, beside the running server) holds that many
  chunk rows for it;
* no stored document is half-indexed: a BM25 search for its marker returns exactly the chunks of it
  whose text holds the marker (the store says which: the chunker may leave a tail such as "." that
  holds no marker; ``chunks_without_marker`` counts them);
* documents acknowledged since the previous check (plus a random sample of older ones) are found by
  BM25 (marker word) and dense (its first sentence) search.

The last restart checks every acknowledged document in both modes. The generator is not needed for any
of this, and loading it would slow every restart, so the server runs with ``RAG_GENERATOR_BACKEND=openai``
pointed at a closed port (the remote client is lazy, so start-up never contacts it).

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.chaos.kill --kills 200

(``tests/chaos/test_kill_short.py`` runs 5 kills in `make test` and 200 in `make chaos`.)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.testing import ROOT, ServerProcess, free_port

SQUAD = Path(os.environ.get("RAG_BENCH_SQUAD") or ROOT.parent / "shared" / "data" / "squad2-dev-3articles.json")
"""Optional: a source of distinct words (see ``vocabulary``); ``$RAG_BENCH_SQUAD`` names it as for the benchmarks."""

WORDS = [
    "river",
    "harbor",
    "lantern",
    "orchard",
    "meadow",
    "copper",
    "granite",
    "velvet",
    "thunder",
    "saddle",
    "willow",
    "anchor",
    "beacon",
    "canyon",
    "falcon",
    "garnet",
    "hazel",
    "island",
    "jasper",
    "kettle",
    "lagoon",
    "marble",
    "nectar",
    "oyster",
    "pepper",
    "quartz",
    "raven",
    "silver",
    "timber",
    "umber",
    "violet",
    "walnut",
    "yarrow",
    "zephyr",
    "amber",
    "bramble",
    "cedar",
    "dune",
    "ember",
    "fjord",
    "glacier",
    "heron",
    "ivory",
    "juniper",
    "kelp",
]


@dataclass(frozen=True)
class AckedDoc:
    id: str
    marker: str
    source: str
    chunks: int
    first_sentence: str


@dataclass
class KillReport:
    kills: int = 0
    kills_during_startup: int = 0
    restarts_checked: int = 0
    acked: int = 0
    listed_checks: int = 0
    search_checks: int = 0
    unacked_but_stored: int = 0
    chunks_without_marker: int = 0
    startup_seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add_restart(self, rep: KillReport, label: str) -> None:
        """Count one restart's checks (``verify``); its failures are prefixed with ``label``."""
        self.restarts_checked += 1
        self.listed_checks += rep.listed_checks
        self.search_checks += rep.search_checks
        self.unacked_but_stored = rep.unacked_but_stored
        self.chunks_without_marker = rep.chunks_without_marker
        self.failures.extend(f"{label}: {f}" for f in rep.failures)

    def summary(self) -> dict[str, Any]:
        s = sorted(self.startup_seconds)
        return {
            "kills": self.kills,
            "kills_during_startup": self.kills_during_startup,
            "restarts_checked": self.restarts_checked,
            "documents_acknowledged": self.acked,
            "document_listing_checks": self.listed_checks,
            "document_search_checks": self.search_checks,
            "stored_without_ack": self.unacked_but_stored,
            "chunks_without_marker": self.chunks_without_marker,
            "startup_s_median": round(s[len(s) // 2], 2) if s else None,
            "startup_s_max": round(s[-1], 2) if s else None,
            "failures": len(self.failures),
        }


@functools.cache
def vocabulary() -> list[str]:
    """Some thousands of distinct words (from the shared SQuAD sample when present): with a few dozen words
    only, the bags of words of thousands of documents collide and dense search cannot tell them apart."""
    words = set(WORDS)
    if SQUAD.exists():
        text = " ".join(p["context"] for a in json.loads(SQUAD.read_text())["data"] for p in a["paragraphs"])
        words |= {w.lower() for w in re.findall(r"[A-Za-z]{4,12}", text)}
    return sorted(words)


def make_doc(rng: random.Random, n: int) -> tuple[str, str, str]:
    """(marker, file name, text): 2-8 sentences shorter than a chunk, with the marker at both ends of each,
    so every chunk (a window of 64 tokens, or the document's end) holds the marker and a BM25 search
    for it must return every chunk of the document."""
    marker = "mk" + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(10))
    sentences = []
    for i in range(rng.randint(2, 8)):
        words = " ".join(rng.choice(vocabulary()) for _ in range(rng.randint(5, 10)))
        sentences.append(f"Record {n}.{i} about {marker}: the {words}, says {marker}.")
    return marker, f"{marker}.txt", " ".join(sentences)


def kill_test_env() -> dict[str, str]:
    """No local generator (a lazy remote client on a closed port), small chunks, frequent snapshots."""
    return {
        "RAG_API_KEYS": "",
        "RAG_RATE_LIMIT": "",
        "RAG_GENERATOR_BACKEND": "openai",
        "RAG_REMOTE_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        # Snapshots often, so kills also land in the middle of index writes.
        "RAG_INDEX_SAVE_INTERVAL_S": "0.2",
        "RAG_CHUNK_TOKENS": "64",
        "RAG_CHUNK_OVERLAP": "4",
    }


class Ingester(threading.Thread):
    """Posts one new document at a time until stopped or the server goes away."""

    def __init__(self, url: str, rng: random.Random, start_n: int, acked: list[AckedDoc]) -> None:
        super().__init__(daemon=True)
        self.url, self.rng, self.n, self.acked = url, rng, start_n, acked
        self.stop_flag = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop_flag.is_set():
                marker, name, text = make_doc(self.rng, self.n)
                self.n += 1
                try:
                    r = client.post("/ingest", files=[("files", (name, text.encode(), "text/plain"))])
                except httpx.HTTPError:
                    return  # killed mid-request: not acknowledged
                if r.status_code != 200:
                    self.errors.append(f"ingest {name}: {r.status_code} {r.text[:200]}")
                    continue
                d = r.json()["documents"][0]
                first = text.split(f" Record {self.n - 1}.1 ", 1)[0]
                self.acked.append(AckedDoc(d["id"], marker, name, int(d["chunks"]), first))


def list_all(client: httpx.Client) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        r = client.get("/documents", params={"limit": 500, "offset": offset})
        r.raise_for_status()
        body = r.json()
        for d in body["documents"]:
            docs[d["id"]] = d
        offset += len(body["documents"])
        if not body["documents"] or offset >= body["total"]:
            return docs


@dataclass(frozen=True)
class StoredDoc:
    chunk_ids: frozenset[int]  # every chunk row of the document
    marker_chunk_ids: frozenset[int]  # those whose text holds the document's marker


def read_store(data_dir: Path) -> dict[str, StoredDoc]:
    """The store's own view of every document. Read-only and while the server runs: a SQLite reader
    in WAL mode neither blocks the writer nor changes what it recovers at its next start."""
    uri = f"file:{data_dir / 'store.sqlite3'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        markers = {
            doc_id: source.removesuffix(".txt") for doc_id, source in conn.execute("SELECT id, source FROM documents")
        }
        chunks: dict[str, set[int]] = defaultdict(set)
        marked: dict[str, set[int]] = defaultdict(set)
        for doc_id, chunk_id, text in conn.execute("SELECT document_id, id, text FROM chunks"):
            chunks[doc_id].add(int(chunk_id))
            if markers.get(doc_id, "\0") in text:
                marked[doc_id].add(int(chunk_id))
    return {d: StoredDoc(frozenset(chunks[d]), frozenset(marked[d])) for d in markers}


def check_bm25(client: httpx.Client, doc_id: str, marker: str, stored: StoredDoc | None, label: str) -> list[str]:
    """A BM25 search for the marker must return exactly the document's chunks that hold it."""
    if stored is None:
        return [f"{label}: not in the store"]
    r = client.post("/search", json={"query": marker, "retrieval_mode": "bm25", "top_k": 50})
    found = (
        {h["chunk_id"] for h in r.json().get("results", []) if h["document_id"] == doc_id}
        if r.status_code == 200
        else set()
    )
    if r.status_code != 200 or found != stored.marker_chunk_ids:
        return [
            f"bm25 {label}: {r.status_code}, found {len(found & stored.marker_chunk_ids)} of the "
            f"{len(stored.marker_chunk_ids)} chunks holding the marker (+{len(found - stored.marker_chunk_ids)} others)"
        ]
    return []


def check_search(client: httpx.Client, doc: AckedDoc, stored: StoredDoc | None) -> list[str]:
    problems = check_bm25(client, doc.id, doc.marker, stored, doc.source)
    r = client.post("/search", json={"query": doc.first_sentence, "retrieval_mode": "dense", "top_k": 5})
    ids = [h["document_id"] for h in r.json().get("results", [])] if r.status_code == 200 else []
    if doc.id not in ids:
        problems.append(f"dense {doc.source}: {r.status_code}, not in top 5")
    return problems


def verify(
    url: str, data_dir: Path, acked: list[AckedDoc], recent: list[AckedDoc], sample: int, rng: random.Random
) -> KillReport:
    """One restart's checks (counts and failures only)."""
    rep = KillReport()
    with httpx.Client(base_url=url, timeout=60) as client:
        listed = list_all(client)
        store = read_store(data_dir)
        rep.chunks_without_marker = sum(len(s.chunk_ids - s.marker_chunk_ids) for s in store.values())
        acked_ids = {d.id for d in acked}
        for d in acked:
            rep.listed_checks += 1
            got = listed.get(d.id)
            stored = store.get(d.id)
            if got is None:
                rep.failures.append(f"acknowledged {d.source} ({d.id}) is not listed")
            elif int(got["chunks"]) != d.chunks:
                rep.failures.append(f"{d.source}: listed with {got['chunks']} chunks, acknowledged {d.chunks}")
            if stored is None or len(stored.chunk_ids) != d.chunks:
                have = "none" if stored is None else len(stored.chunk_ids)
                rep.failures.append(f"{d.source}: the store holds {have} chunk rows, acknowledged {d.chunks}")
        # Committed but never acknowledged (killed between commit and reply): must still be whole.
        for doc_id, meta in listed.items():
            if doc_id in acked_ids:
                continue
            rep.unacked_but_stored += 1
            stored = store.get(doc_id)
            if stored is not None and len(stored.chunk_ids) != int(meta["chunks"]):
                rep.failures.append(
                    f"unacknowledged {meta['source']}: {len(stored.chunk_ids)} chunk rows, listed {meta['chunks']}"
                )
            marker = meta["source"].removesuffix(".txt")
            rep.failures.extend(check_bm25(client, doc_id, marker, stored, f"unacknowledged {meta['source']}"))
        recent_set = set(recent)
        older = [d for d in acked if d not in recent_set]
        for d in recent + rng.sample(older, min(sample, len(older))):
            rep.search_checks += 1
            rep.failures.extend(check_search(client, d, store.get(d.id)))
    return rep


def run_kill_test(
    kills: int,
    data_dir: Path,
    *,
    seed: int = 0,
    max_delay_s: float = 2.0,
    startup_kill_fraction: float = 0.15,
    sample: int = 10,
    ready_timeout_s: float = 180.0,
    log: Any = None,
) -> KillReport:
    """SIGKILL the server ``kills`` times; returns counts and every failure found."""
    rng = random.Random(seed)
    report = KillReport()
    acked: list[AckedDoc] = []
    checked_upto = 0
    reported = 0  # failures already noted
    log_path = data_dir.parent / "kill_test_server.log"

    def note(msg: str) -> None:
        if log is not None:
            print(msg, file=log, flush=True)

    while report.kills < kills:
        server = ServerProcess(data_dir, log_path, kill_test_env())
        if rng.random() < startup_kill_fraction and report.kills > 0:
            time.sleep(rng.uniform(0.5, 6.0))
            ready_before = server.proc.poll() is None and server.is_ready()
            server.kill()
            report.kills += 1
            report.kills_during_startup += 0 if ready_before else 1
            continue
        ok, why = server.wait_ready(ready_timeout_s)
        if not ok:
            report.failures.append(f"restart after kill {report.kills}: {why}")
            server.kill()
            break
        report.startup_seconds.append(time.monotonic() - server.started)
        recent = acked[checked_upto:]
        rep = verify(server.url, data_dir, acked, recent, sample, rng)
        checked_upto = len(acked)
        report.add_restart(rep, f"after kill {report.kills}")
        ingester = Ingester(server.url, rng, len(acked) + 10_000 * report.kills, acked)
        ingester.start()
        time.sleep(rng.uniform(0.05, max_delay_s))
        server.kill()
        ingester.stop_flag.set()
        ingester.join(timeout=30)
        report.failures.extend(ingester.errors)
        report.kills += 1
        note(f"kill {report.kills}: {len(acked)} acknowledged, {len(report.failures)} failures")
        for failure in report.failures[reported:]:
            note(f"  FAIL: {failure}")
        reported = len(report.failures)

    # Final restart: every acknowledged document in both search modes.
    server = ServerProcess(data_dir, log_path, kill_test_env())
    ok, why = server.wait_ready(ready_timeout_s)
    if not ok:
        report.failures.append(f"final restart: {why}")
        server.kill()
    else:
        rep = verify(server.url, data_dir, acked, list(acked), 0, rng)
        report.add_restart(rep, "final")
        server.stop()
    report.acked = len(acked)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=2.0, help="longest ingest time before a kill (s)")
    parser.add_argument(
        "--ready-timeout", type=float, default=180.0, help="longest start-up before a restart counts as failed (s)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="kept after the run when given")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        report = run_kill_test(
            args.kills,
            data_dir,
            seed=args.seed,
            max_delay_s=args.max_delay,
            log=sys.stderr,
            ready_timeout_s=args.ready_timeout,
        )
        summary = report.summary() | {"wall_s": round(time.monotonic() - t0, 1)}
        print(json.dumps(summary, indent=2))
        for f in report.failures[:50]:
            print("FAIL:", f)
        sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
