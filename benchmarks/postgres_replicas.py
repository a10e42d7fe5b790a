"""Two replicas on one PostgreSQL, through the real HTTP API: consistency, duplicates, crashes, outages, tenants.

Starts a throwaway PostgreSQL 18 + pgvector (``tests/postgres_server.py``) and two ``uvicorn app.main:app``
replicas on it (``RAG_DATABASE_URL``; no generator and no grounding model, which nothing here needs), then:

a. consistency: ``--documents`` small distinct documents go alternately through the two replicas (one
   writer per replica, both at once); right after each acknowledgement the OTHER replica must list it
   (``GET /documents``, newest first) and find it (a BM25 search for its marker returns exactly its chunks,
   a dense search for its first sentence has it in the top 5). Every fifth is also checked on the replica
   that took it: the baseline for the latencies.
b. duplicates: ``--duplicates`` documents, each uploaded at once by ``--threads`` threads split between the
   replicas; each must become exactly one document (one id in every answer, one row in the database).
c. SIGKILL: ``--kills`` times, a replica is killed while it ingests (``tests/chaos/kill.py``'s ``Ingester``)
   and restarted, the two taking turns, while a client keeps ingesting and searching through the other one;
   every document the killed replica acknowledged must then be listed and found through the survivor.
   ``--startup-kills`` more kills land while a replica is still starting (migrations, model load).
d. PostgreSQL restarts: ``--restarts`` times, PostgreSQL stops (fast and immediate shutdown in turn, the
   latter with crash recovery) for ``--down`` seconds while one ingest and one search client per replica keep
   going. During an outage (stop until both replicas answer again) only 200 and 503 with Retry-After may
   appear; outside one only 200. Every acknowledged document must stay listed and searchable.
e. tenants: a third server on the same database, with two API keys and the default models, takes
   ``tests/app/tenant_probes.py``'s cross-tenant probes.

Then every document acknowledged anywhere must be listed by both replicas and found by BM25, and no
document in the database may be half stored. Exits 1 on any failure.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.postgres_replicas [--documents 1000] [--kills 50] [--restarts 5]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app.testing import ServerProcess
from benchmarks.common import percentile
from tests.app.tenant_probes import API_KEYS, run_probes
from tests.chaos.kill import AckedDoc, Ingester, StoredDoc, check_bm25, check_search, kill_test_env, list_all, make_doc
from tests.postgres_server import PostgresServer, postgres_server

READY_TIMEOUT_S = 300.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the replicas and what the database holds ----------------------------------------------------------


class Replicas:
    """Two replica processes on one database; a restart gets a new port, so ask ``url(i)`` each time."""

    def __init__(self, database_url: str, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {
            **kill_test_env(),  # open, no rate limit, a remote generator never called, small chunks
            "RAG_DATABASE_URL": database_url,
            "RAG_GROUNDING": "false",
            # Part b races several uploads per replica on purpose: room for them all, so none is turned away.
            "RAG_MAX_INGESTS_PER_TENANT": "8",
            "RAG_MAX_CONCURRENT_INGESTS": "8",
        }
        self.procs = [self.spawn(0), self.spawn(1)]
        for p in self.procs:
            p.ready_or_raise(READY_TIMEOUT_S)

    def spawn(self, i: int) -> ServerProcess:
        return ServerProcess(self.tmp / f"replica{i}", self.tmp / f"replica{i}.log", self.env)

    def url(self, i: int) -> str:
        return self.procs[i].url

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


def new_doc(rng: random.Random, n: int) -> tuple[str, str, str, str]:
    """(marker, file name, text, first sentence) of a fresh document (``kill.make_doc``)."""
    marker, name, text = make_doc(rng, n)
    return marker, name, text, text.split(f" Record {n}.1 ", 1)[0]


def upload(client: httpx.Client, url: str, name: str, text: str) -> httpx.Response:
    return client.post(f"{url}/ingest", files=[("files", (name, text.encode(), "text/plain"))])


def acked(resp: httpx.Response, marker: str, name: str, first: str) -> AckedDoc:
    d = resp.json()["documents"][0]
    return AckedDoc(d["id"], marker, name, int(d["chunks"]), first)


def read_store(database_url: str, ids: Collection[str] | None = None) -> dict[str, StoredDoc]:
    """The database's own view of the default tenant's documents (all, or ``ids``), as ``kill.read_store``."""
    where, params = "d.tenant = 'default'", []
    if ids is not None:
        where += " AND d.id = ANY(%s)"
        params.append(list(ids))
    chunks: dict[str, set[int]] = defaultdict(set)
    marked: dict[str, set[int]] = defaultdict(set)
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT d.id, d.source, c.id, c.text FROM documents d LEFT JOIN chunks c ON c.document_id = d.id"
            f" WHERE {where}",
            params,
        ).fetchall()
    for doc_id, source, chunk_id, text in rows:
        chunks.setdefault(doc_id, set())
        if chunk_id is not None:
            chunks[doc_id].add(int(chunk_id))
            if source.removesuffix(".txt") in text:
                marked[doc_id].add(int(chunk_id))
    return {d: StoredDoc(frozenset(c), frozenset(marked[d])) for d, c in chunks.items()}


def half_stored(database_url: str) -> int:
    """Documents whose chunk rows do not match their chunk count: must be 0."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT d.id FROM documents d LEFT JOIN chunks c ON c.document_id = d.id"
            " GROUP BY d.id, d.chunk_count HAVING count(c.id) <> d.chunk_count) AS odd"
        ).fetchone()
    return int(row[0]) if row else -1


def check_listed(client: httpx.Client, url: str, doc: AckedDoc) -> list[str]:
    r = client.get(f"{url}/documents/{doc.id}")
    if r.status_code != 200:
        return [f"{doc.source}: GET /documents/{{id}} answered {r.status_code}"]
    if int(r.json()["chunks"]) != doc.chunks:
        return [f"{doc.source}: listed with {r.json()['chunks']} chunks, acknowledged {doc.chunks}"]
    return []


def check_found(url: str, doc: AckedDoc, stored: StoredDoc | None) -> list[str]:
    """``kill.check_search`` (BM25: exactly its marked chunks; dense: in the top 5) through ``url``."""
    with httpx.Client(base_url=url, timeout=60) as c:
        return check_search(c, doc, stored)


# --- a. consistency across replicas --------------------------------------------------------------------


def part_consistency(replicas: Replicas, db: str, documents: int, rng: random.Random) -> dict[str, Any]:
    """Two writers at once, one per replica: writer w ingests documents w, w+2, ... through replica w and
    checks each through the other one right after its acknowledgement."""
    failures: list[str] = []
    docs: list[AckedDoc] = []
    ingest_ms: list[float] = []
    check_ms: dict[str, list[float]] = {"other": [], "same": []}
    seeds = [rng.random(), rng.random()]

    def writer(w: int) -> None:
        wrng = random.Random(seeds[w])
        clients = {"same": httpx.Client(base_url=replicas.url(w), timeout=60)}
        clients["other"] = httpx.Client(base_url=replicas.url(1 - w), timeout=60)
        try:
            for n in range(w, documents, 2):
                marker, name, text, first = new_doc(wrng, n)
                t0 = time.perf_counter()
                r = clients["same"].post("/ingest", files=[("files", (name, text.encode(), "text/plain"))])
                ingest_ms.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    failures.append(f"ingest {name}: {r.status_code} {r.text[:200]}")
                    continue
                doc = acked(r, marker, name, first)
                docs.append(doc)
                stored = read_store(db, [doc.id]).get(doc.id)
                for side in ("other", "same") if n % 10 < 2 else ("other",):
                    t0 = time.perf_counter()
                    # Newest first: the other writer adds at most one document between the ack and this.
                    listing = clients[side].get("/documents", params={"limit": 10})
                    newest = {d["id"]: d["chunks"] for d in listing.json()["documents"]} if listing.is_success else {}
                    problems = check_search(clients[side], doc, stored)
                    check_ms[side].append((time.perf_counter() - t0) * 1000)
                    if newest.get(doc.id) != doc.chunks:
                        problems.append(f"{name}: not among the newest listed ({listing.status_code})")
                    failures.extend(f"{side} replica: {p}" for p in problems)
                if w == 0 and n % 100 == 98:
                    log(f"a. {len(docs)} documents, {len(failures)} failures")
        finally:
            for c in clients.values():
                c.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "documents": documents,
        "acknowledged": len(docs),
        "checked_on_the_other_replica": len(check_ms["other"]),
        "checked_on_the_same_replica": len(check_ms["same"]),
        "ingest_ms_p50": percentile(ingest_ms, 50),
        "checks_ms_p50_other_replica": percentile(check_ms["other"], 50),
        "checks_ms_p50_same_replica": percentile(check_ms["same"], 50),
        "failures": failures,
        "docs": docs,
    }


# --- b. concurrent duplicate uploads --------------------------------------------------------------------


def race(urls: list[str], name: str, text: str) -> list[httpx.Response]:
    """One upload of the same bytes to each of ``urls``, all released at once."""
    barrier = threading.Barrier(len(urls))

    def send(url: str) -> httpx.Response:
        with httpx.Client(timeout=120) as c:
            barrier.wait()
            return upload(c, url, name, text)

    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(send, urls))


def part_duplicates(replicas: Replicas, db: str, documents: int, threads: int, rng: random.Random) -> dict[str, Any]:
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    flagged = 0
    docs: list[AckedDoc] = []
    for d in range(documents):
        marker, name, text, first = new_doc(rng, 900_000 + d)
        answers = race([replicas.url(i % 2) for i in range(threads)], name, text)
        statuses.update(r.status_code for r in answers)
        ok = [r.json()["documents"][0] for r in answers if r.status_code == 200]
        ids = {a["id"] for a in ok}
        flagged += sum(bool(a["deduplicated"]) for a in ok)
        with psycopg.connect(db, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM documents WHERE source = %s", (name,)).fetchone()
        rows = int(row[0]) if row else 0
        if len(ok) != threads or len(ids) != 1 or rows != 1:
            failures.append(f"{name}: {len(ok)}/{threads} answered 200, {len(ids)} ids, {rows} rows stored")
        if ok:
            docs.append(AckedDoc(ok[0]["id"], marker, name, int(ok[0]["chunks"]), first))
    return {
        "documents": documents,
        "uploads": documents * threads,
        "statuses": dict(statuses),
        "answered_deduplicated": flagged,
        "failures": failures,
        "docs": docs,
    }


# --- c. SIGKILL a replica while it ingests ----------------------------------------------------------------


class SurvivorTraffic(threading.Thread):
    """Ingests and then searches one document at a time through whichever replica is not being killed."""

    def __init__(self, url: str, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.url, self.rng = url, rng
        self.lock = threading.Lock()  # held per request pair: switching targets waits for it
        self.stop_flag = threading.Event()
        self.statuses: Counter[str] = Counter()
        self.failures: list[str] = []
        self.docs: list[AckedDoc] = []

    def retarget(self, url: str) -> None:
        with self.lock:
            self.url = url

    def run(self) -> None:
        n = 3_000_000
        with httpx.Client(timeout=60) as c:
            while not self.stop_flag.is_set():
                with self.lock:
                    marker, name, text, first = new_doc(self.rng, n)
                    n += 1
                    try:
                        r = upload(c, self.url, name, text)
                        self.statuses[f"ingest {r.status_code}"] += 1
                        if r.status_code != 200:
                            self.failures.append(f"survivor ingest {name}: {r.status_code} {r.text[:200]}")
                            continue
                        self.docs.append(acked(r, marker, name, first))
                        s = c.post(f"{self.url}/search", json={"query": marker, "retrieval_mode": "bm25", "top_k": 10})
                        self.statuses[f"search {s.status_code}"] += 1
                        hits = {h["document_id"] for h in s.json()["results"]} if s.status_code == 200 else set()
                        if self.docs[-1].id not in hits:
                            self.failures.append(f"survivor search {name}: {s.status_code}, not found")
                    except httpx.HTTPError as exc:
                        self.statuses["transport error"] += 1
                        self.failures.append(f"survivor {name}: {type(exc).__name__}")
                time.sleep(0.25)


def part_kills(
    replicas: Replicas, db: str, kills: int, startup_kills: int, max_delay: float, rng: random.Random
) -> dict[str, Any]:
    failures: list[str] = []
    docs: list[AckedDoc] = []
    acked_per_kill: list[int] = []
    startup_s: list[float] = []
    startups_killed = 0
    survivor = SurvivorTraffic(replicas.url(1), random.Random(rng.random()))
    survivor.start()
    every = max(1, kills // startup_kills) if startup_kills else 0
    try:
        for k in range(kills):
            victim, other = k % 2, 1 - k % 2
            survivor.retarget(replicas.url(other))
            now: list[AckedDoc] = []
            ingester = Ingester(replicas.url(victim), random.Random(rng.random()), 1_000_000 + 10_000 * k, now)
            ingester.start()
            # Killed while an ingest is in flight: the next one goes out as soon as the first is acknowledged.
            deadline = time.monotonic() + 60
            while not now and ingester.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, max_delay))
            replicas.procs[victim].kill()
            ingester.stop_flag.set()
            ingester.join(timeout=60)
            failures.extend(f"kill {k + 1}: {e}" for e in ingester.errors)
            acked_per_kill.append(len(now))
            docs.extend(now)
            if every and (k + 1) % every == 0 and startups_killed < startup_kills:
                doomed = replicas.spawn(victim)  # killed while it migrates, loads its model or opens its pool
                time.sleep(rng.uniform(0.5, 5.0))
                doomed.kill()
                startups_killed += 1
            replicas.procs[victim] = replicas.spawn(victim)
            # Checked through the survivor while the killed one restarts.
            stored = read_store(db, [d.id for d in now])
            with httpx.Client(timeout=60) as c:
                for d in now:
                    problems = check_listed(c, replicas.url(other), d)
                    problems += check_found(replicas.url(other), d, stored.get(d.id))
                    failures.extend(f"kill {k + 1}: {p}" for p in problems)
            ok, why = replicas.procs[victim].wait_ready(READY_TIMEOUT_S)
            if not ok:
                failures.append(f"restart after kill {k + 1}: {why}")
                break
            startup_s.append(time.monotonic() - replicas.procs[victim].started)
            log(f"c. kill {k + 1}: {len(now)} acknowledged before it, {len(failures)} failures")
    finally:
        survivor.stop_flag.set()
        survivor.join(timeout=60)
    return {
        "kills_during_ingest": len(acked_per_kill),
        "kills_during_startup": startups_killed,
        "acknowledged_by_killed": len(docs),
        "acked_per_kill_p50": percentile([float(a) for a in acked_per_kill], 50),
        "restart_s_p50": percentile(startup_s, 50),
        "restart_s_max": max(startup_s, default=float("nan")),
        "survivor_statuses": dict(survivor.statuses),
        "survivor_acknowledged": len(survivor.docs),
        "failures": failures + survivor.failures,
        "docs": docs + survivor.docs,
    }


# --- d. PostgreSQL restarts under load --------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    start: float
    end: float
    replica: int
    kind: str
    status: str  # "200", "503", ..., or "transport error"
    retry_after: bool


@dataclass
class Load:
    """One ingest and one search client per replica, recording every request's outcome."""

    replicas: Replicas
    rng: random.Random
    outcomes: list[Outcome] = field(default_factory=list)
    docs: list[AckedDoc] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop_flag: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, t0: float, i: int, kind: str, r: httpx.Response | None) -> None:
        status = str(r.status_code) if r is not None else "transport error"
        retry = r is not None and r.headers.get("retry-after", "").isdigit()
        with self.lock:
            self.outcomes.append(Outcome(t0, time.monotonic(), i, kind, status, retry))

    def ingest(self, i: int, n0: int) -> None:
        rng = random.Random(n0)
        pending: tuple[str, str, str, str] | None = None
        n = n0
        with httpx.Client(timeout=60) as c:
            while not self.stop_flag.is_set():
                if pending is None:  # a refused upload is sent again, same bytes, as a client would
                    pending = new_doc(rng, n)
                    n += 1
                marker, name, text, first = pending
                t0 = time.monotonic()
                try:
                    r: httpx.Response | None = upload(c, self.replicas.url(i), name, text)
                except httpx.HTTPError:
                    r = None
                self._record(t0, i, "ingest", r)
                if r is not None and r.status_code == 200:
                    with self.lock:
                        self.docs.append(acked(r, marker, name, first))
                    pending = None
                elif r is not None and r.status_code != 503:
                    pending = None
                time.sleep(0.05)

    def search(self, i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(timeout=60) as c:
            while not self.stop_flag.is_set():
                with self.lock:
                    doc = rng.choice(self.docs) if self.docs else None
                if doc is None:
                    time.sleep(0.1)
                    continue
                t0 = time.monotonic()
                try:
                    body = {"query": doc.marker, "retrieval_mode": "bm25", "top_k": 10}
                    r: httpx.Response | None = c.post(f"{self.replicas.url(i)}/search", json=body)
                except httpx.HTTPError:
                    r = None
                self._record(t0, i, "search", r)
                if (
                    r is not None
                    and r.status_code == 200
                    and doc.id not in {h["document_id"] for h in r.json()["results"]}
                ):
                    self.failures.append(f"replica {i}: acknowledged {doc.source} not found")
                time.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=self.ingest, args=(i, 5_000_000 + 100_000 * i)) for i in (0, 1)]
        threads += [threading.Thread(target=self.search, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        try:
            yield
        finally:
            self.stop_flag.set()
            for t in threads:
                t.join(timeout=120)


def stop_postgres(server: PostgresServer, immediate: bool) -> None:
    """Fast shutdown (SIGINT), or immediate (SIGQUIT: no checkpoint, crash recovery at the next start)."""
    if not immediate or server.process is None:
        server.stop()
        return
    server.process.send_signal(signal.SIGQUIT)
    server.process.wait(timeout=30)
    server.process = None


def part_restarts(
    replicas: Replicas, server: PostgresServer, restarts: int, up_s: float, downs: list[float], rng: random.Random
) -> dict[str, Any]:
    load = Load(replicas, rng)
    windows: list[tuple[float, float]] = []
    rows: list[dict[str, Any]] = []
    failures: list[str] = []

    def first_success(kind: str, replica: int, after: float) -> float | None:
        ends = [o.end for o in load.outcomes if o.kind == kind and o.replica == replica and o.status == "200"]
        return min((e for e in ends if e > after), default=None)

    with load.running():
        time.sleep(up_s)
        for k in range(restarts):
            immediate = k % 2 == 1
            down_s = downs[k % len(downs)]
            down = time.monotonic()
            stop_postgres(server, immediate)
            stopped = time.monotonic()
            time.sleep(down_s)
            server.start()
            up = time.monotonic()
            # Recovered once every replica has stored a document and answered a search since PostgreSQL stopped.
            deadline = up + 180
            while True:
                with load.lock:
                    back = {(kind, i): first_success(kind, i, stopped) for kind in ("ingest", "search") for i in (0, 1)}
                if all(t is not None for t in back.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if not all(t is not None for t in back.values()):
                failures.append(f"restart {k + 1}: not every replica recovered within 180 s of PostgreSQL")
            recovered = max((t for t in back.values() if t is not None), default=time.monotonic())
            windows.append((down, recovered))
            with load.lock:
                refused = [o for o in load.outcomes if o.status != "200" and down <= o.end <= recovered + 60]
            rows.append(
                {
                    "shutdown": "immediate" if immediate else "fast",
                    "down_s": down_s,
                    "errors": len(refused),
                    "error_window_s": max(o.end for o in refused) - min(o.end for o in refused) if refused else 0.0,
                    "search_back_s": max(0.0, max(back[("search", i)] or recovered for i in (0, 1)) - up),
                    "ingest_back_s": max(0.0, max(back[("ingest", i)] or recovered for i in (0, 1)) - up),
                }
            )
            log(f"d. restart {k + 1}: {rows[-1]}")
            time.sleep(up_s)

    def in_outage(o: Outcome) -> bool:
        return any(o.start < end and o.end > start for start, end in windows)

    during: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    for o in load.outcomes:
        inside = in_outage(o)
        (during if inside else outside)[o.status] += 1
        allowed = o.status == "200" or (inside and o.status == "503" and o.retry_after)
        if not allowed:
            where = "during an outage" if inside else "outside any outage"
            failures.append(f"replica {o.replica} {o.kind} {where}: {o.status} (Retry-After: {o.retry_after})")
    return {
        "restarts": restarts,
        "statuses_during_outages": dict(during),
        "statuses_outside_outages": dict(outside),
        "per_restart": rows,
        "acknowledged": len(load.docs),
        "failures": failures + load.failures,
        "docs": load.docs,
    }


# --- e. tenants ------------------------------------------------------------------------------------------


def part_tenants(database_url: str, tmp: Path, probes: int, seed: int) -> dict[str, Any]:
    env = {"RAG_DATABASE_URL": database_url, "RAG_API_KEYS": API_KEYS, "RAG_MAX_NEW_TOKENS": "8", "RAG_RATE_LIMIT": ""}
    server = ServerProcess(tmp / "probes", tmp / "probes.log", env)
    try:
        server.ready_or_raise(READY_TIMEOUT_S * 2)
        with httpx.Client(base_url=server.url, timeout=120) as client:
            report = run_probes(client, probes, seed=seed)
    finally:
        server.stop()
    return report.summary() | {"failures": report.leaks}


# --- all of it -------------------------------------------------------------------------------------------


def final_check(replicas: Replicas, db: str, docs: list[AckedDoc]) -> dict[str, Any]:
    """Every acknowledged document listed by both replicas (same chunk count) and found by BM25, exactly."""
    failures: list[str] = []
    stored = read_store(db)
    listed = []
    for i in (0, 1):
        with httpx.Client(base_url=replicas.url(i), timeout=60) as c:
            listed.append(list_all(c))
    for doc in docs:
        for j in (0, 1):
            got = listed[j].get(doc.id)
            if got is None or int(got["chunks"]) != doc.chunks:
                failures.append(f"replica {j}: acknowledged {doc.source} listed as {got and got['chunks']}")
    for i in (0, 1):
        with httpx.Client(base_url=replicas.url(i), timeout=60) as c:
            for doc in docs[i::2]:
                failures.extend(check_bm25(c, doc.id, doc.marker, stored.get(doc.id), doc.source))
    half = half_stored(db)
    if half:
        failures.append(f"{half} documents half stored")
    acked_ids = {d.id for d in docs}
    return {
        "acknowledged": len(acked_ids),
        "stored": len(stored),
        "stored_without_ack": len(set(stored) - acked_ids),
        "half_stored": half,
        "failures": failures,
    }


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    return str(value)


def print_rows(rows: list[dict[str, Any]]) -> None:
    if rows:
        print("  " + " ".join(f"{k:>15}" for k in rows[0]))
        for row in rows:
            print("  " + " ".join(f"{fmt(v):>15}" for v in row.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000, help="a: documents ingested alternately")
    parser.add_argument("--duplicates", type=int, default=10, help="b: documents each uploaded by every thread")
    parser.add_argument("--threads", type=int, default=8, help="b: concurrent uploads of one document")
    parser.add_argument("--kills", type=int, default=50, help="c: SIGKILLs during ingest")
    parser.add_argument("--startup-kills", type=int, default=5, help="c: more SIGKILLs during start-up")
    parser.add_argument("--max-delay", type=float, default=1.0, help="c: longest ingest time before a kill (s)")
    parser.add_argument("--restarts", type=int, default=5, help="d: PostgreSQL restarts")
    parser.add_argument(
        "--down", default="2,5,10,20,40", help="d: seconds PostgreSQL stays down, one value per restart in turn"
    )
    parser.add_argument("--up", type=float, default=5.0, help="d: seconds of normal service around each outage")
    parser.add_argument("--probes", type=int, default=400, help="e: cross-tenant probes (0: skip e)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="abcde", help="which parts to run, e.g. 'ad'")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    downs = [float(d) for d in args.down.split(",")]
    rng = random.Random(args.seed)
    results: dict[str, dict[str, Any]] = {}
    docs: list[AckedDoc] = []
    t_start = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-replicas-")))
        server = stack.enter_context(postgres_server())
        db = server.url(server.create_database())
        replicas = Replicas(db, tmp)
        stack.callback(replicas.stop)
        log(f"PostgreSQL on port {server.port}; replicas at {replicas.url(0)} and {replicas.url(1)}")
        parts: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("a. consistency", lambda: part_consistency(replicas, db, args.documents, rng)),
            ("b. duplicates", lambda: part_duplicates(replicas, db, args.duplicates, args.threads, rng)),
            ("c. SIGKILL", lambda: part_kills(replicas, db, args.kills, args.startup_kills, args.max_delay, rng)),
            ("d. PostgreSQL restarts", lambda: part_restarts(replicas, server, args.restarts, args.up, downs, rng)),
        ]
        for title, part in parts:
            if title[0] not in args.parts:
                continue
            t0 = time.monotonic()
            results[title] = part()
            results[title]["wall_s"] = time.monotonic() - t0
            docs.extend(results[title].pop("docs"))
            log(f"{title}: {len(results[title]['failures'])} failures, {results[title]['wall_s']:.0f} s")
        results["all acknowledged documents"] = final_check(replicas, db, docs)
        if args.probes and "e" in args.parts:
            t0 = time.monotonic()
            results["e. tenants"] = part_tenants(db, tmp, args.probes, args.seed)
            results["e. tenants"]["wall_s"] = time.monotonic() - t0
    failed = 0
    print(f"{'part':26} {'figure':30} value")
    for title, figures in results.items():
        for key, value in figures.items():
            if key == "per_restart":
                print_rows(value)
            elif key != "failures":
                print(f"{title:26} {key:30} {fmt(value)}")
        print(f"{title:26} {'FAILURES':30} {len(figures['failures'])}")
        failed += len(figures["failures"])
    print(f"total wall time {time.monotonic() - t_start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    for title, figures in results.items():
        for f in figures["failures"][:20]:
            print(f"FAIL {title}: {f}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
