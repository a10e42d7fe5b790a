"""Overload: drive /ask at ~4x the sustainable rate with a small queue; the server must shed load cleanly.

1. Closed loop (baseline): ``--clients`` clients ask back to back for ``--closed-s`` seconds; the
   completed rate is the sustainable rate.
2. Open loop: Poisson arrivals at ``--factor`` times that rate for ``--open-s`` seconds (at least
   ``--min-requests``, at most ``--max-requests``), each request independent (async httpx), with
   ``RAG_MAX_QUEUE`` (requests in flight) no larger than the closed loop's concurrency, so an accepted
   request waits no longer than a sustainable one. Halfway through, one document is ingested.

Requests are kept modest (``--top-k`` passages, ``--max-new-tokens``): on a shared 2-core CPU one /ask
can take tens of seconds, and the point is load shedding, not answer length.

Checks: every rejection is a 503 with ``Retry-After`` or a 429; every accepted request completes with a
200 (in both loops: a 504 is a failure); the process is still alive and ``/healthz`` answers; the document
acknowledged during the overload is listed afterwards. Prints p50/p95/p99 of accepted requests (closed and
open loop) and the status mix.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.overload
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import SQUAD, ServerProcess, load_squad, percentile


def load_corpus(n_paragraphs: int = 12) -> tuple[list[str], list[str]]:
    """Paragraphs and questions from the shared SQuAD sample (or a small built-in corpus)."""
    if SQUAD.exists():
        squad = load_squad(SQUAD, paragraphs=n_paragraphs)
        return squad.paragraphs, [q.text for q in squad.questions]
    paras = [f"Town {i} has a market on day {i % 7} and a river called R{i}." for i in range(n_paragraphs)]
    return paras, [f"When is the market in town {i}?" for i in range(n_paragraphs)]


Ask = dict[str, Any]  # the /ask body fields besides the question


async def one(client: httpx.AsyncClient, question: str, ask: Ask) -> tuple[int, float, str | None, str]:
    t0 = time.perf_counter()
    try:
        r = await client.post("/ask", json={"question": question, **ask})
    except httpx.HTTPError as exc:
        return -1, time.perf_counter() - t0, None, f"{type(exc).__name__}: {exc}"
    return r.status_code, time.perf_counter() - t0, r.headers.get("retry-after"), r.text[:200]


async def closed_loop(
    url: str, questions: list[str], clients: int, seconds: float, ask: Ask, min_rounds: int = 3, max_s: float = 900
) -> dict[str, Any]:
    """Back-to-back clients for ``seconds``, and longer (up to ``max_s``) until each has finished ``min_rounds``
    requests: on a busy CPU one request can take longer than the planned window."""
    lat: list[float] = []
    statuses: Counter[int] = Counter()
    t_start = time.perf_counter()
    stop, hard_stop = t_start + seconds, t_start + max_s
    rng = random.Random(1)

    async def worker(client: httpx.AsyncClient) -> None:
        rounds = 0
        while (time.perf_counter() < stop or rounds < min_rounds) and time.perf_counter() < hard_stop:
            status, dt, _, _ = await one(client, rng.choice(questions), ask)
            rounds += 1
            statuses[status] += 1
            if status == 200:
                lat.append(dt)

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    return {
        "completed": len(lat),
        "elapsed_s": round(elapsed, 1),
        "rate_per_s": len(lat) / elapsed,
        "statuses": dict(statuses),
        "p50_s": percentile(lat, 50),
        "p95_s": percentile(lat, 95),
        "p99_s": percentile(lat, 99),
    }


async def open_loop(
    url: str, questions: list[str], rate: float, seconds: float, min_requests: int, max_requests: int, ask: Ask
) -> dict[str, Any]:
    """Poisson arrivals at ``rate`` for ``seconds``, and on until ``min_requests`` were sent (a slow CPU has a
    low rate); one document is ingested when half of the requests are out."""
    rng = random.Random(2)
    planned = min(max_requests, max(min_requests, round(rate * seconds)))
    half_sent = asyncio.Event()
    results: list[tuple[int, float, str | None, str]] = []
    ingest_ack: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def fire(q: str) -> None:
            results.append(await one(client, q, ask))

        async def ingest_midway() -> None:
            await half_sent.wait()
            body = b"The overload marker document says the quartermaster counts zebracorn barrels at noon."
            r = await client.post("/ingest", files=[("files", ("overload-marker.txt", body, "text/plain"))])
            ingest_ack.update(status=r.status_code, body=r.json() if r.status_code == 200 else r.text[:300])

        tasks = [asyncio.create_task(ingest_midway())]
        t0 = time.perf_counter()
        sent = 0
        while sent < planned:
            tasks.append(asyncio.create_task(fire(rng.choice(questions))))
            sent += 1
            if sent == planned // 2:
                half_sent.set()
            await asyncio.sleep(rng.expovariate(rate))
        half_sent.set()
        send_s = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        drain_s = time.perf_counter() - t0
    ok = [dt for s, dt, _, _ in results if s == 200]
    statuses = Counter(s for s, _, _, _ in results)
    bad = [
        f"{s} retry-after={ra} {text}"
        for s, _, ra, text in results
        if not (s == 200 or s == 429 or (s == 503 and ra is not None and float(ra) > 0))
    ]
    return {
        "offered_rate_per_s": rate,
        "sent": sent,
        "send_s": round(send_s, 1),
        "drain_s": round(drain_s, 1),
        "accepted": len(ok),
        "statuses": {str(k): v for k, v in statuses.items()},
        "rejected_fraction": round(1 - len(ok) / max(1, sent), 3),
        "p50_s": percentile(ok, 50),
        "p95_s": percentile(ok, 95),
        "p99_s": percentile(ok, 99),
        "bad_responses": bad[:20],
        "bad_count": len(bad),
        "ingest_during_overload": ingest_ack,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--closed-s", type=float, default=45.0)
    parser.add_argument("--open-s", type=float, default=40.0)
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--min-requests", type=int, default=40)
    parser.add_argument("--max-requests", type=int, default=400)
    parser.add_argument("--max-queue", type=int, default=None, help="RAG_MAX_QUEUE; default: --clients")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--request-timeout", type=float, default=None, help="RAG_REQUEST_TIMEOUT_S if given")
    args = parser.parse_args()
    ask: Ask = {"max_new_tokens": args.max_new_tokens, "top_k": args.top_k}

    paragraphs, questions = load_corpus()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **({"RAG_REQUEST_TIMEOUT_S": str(args.request_timeout)} if args.request_timeout else {}),
            "RAG_MAX_QUEUE": str(args.max_queue or args.clients),
            "RAG_API_KEYS": "",
            "RAG_RATE_LIMIT": "",
        }
        server = ServerProcess(Path(tmp) / "data", Path(tmp) / "server.log", env)
        try:
            ok, why = server.wait_ready(600)
            if not ok:
                raise SystemExit(f"server did not start: {why}\n" + (Path(tmp) / "server.log").read_text()[-3000:])
            with httpx.Client(base_url=server.url, timeout=120) as c:
                files = [("files", (f"p{i}.txt", p.encode(), "text/plain")) for i, p in enumerate(paragraphs)]
                assert c.post("/ingest", files=files).status_code == 200
            closed = asyncio.run(closed_loop(server.url, questions, args.clients, args.closed_s, ask))
            rate = closed["rate_per_s"] * args.factor
            opened = asyncio.run(
                open_loop(server.url, questions, rate, args.open_s, args.min_requests, args.max_requests, ask)
            )
            alive = server.proc.poll() is None
            health = httpx.get(f"{server.url}/healthz", timeout=10).status_code if alive else None
            listed = False
            ack = opened["ingest_during_overload"]
            if ack.get("status") == 200:
                doc_id = ack["body"]["documents"][0]["id"]
                listed = httpx.get(f"{server.url}/documents/{doc_id}", timeout=30).status_code == 200
        finally:
            server.stop()
        log_tail = (Path(tmp) / "server.log").read_text()[-2000:]
    if not alive or health != 200:
        failures.append(f"server not healthy after overload (alive={alive}, healthz={health})")
    closed_bad = {k: v for k, v in closed["statuses"].items() if k != 200}
    if closed_bad:
        failures.append(f"closed loop (sustainable load) answered {closed_bad}: not every request completed")
    if opened["bad_count"]:
        failures.append(f"{opened['bad_count']} responses were neither 200, 429 nor 503+Retry-After")
    if ack.get("status") != 200 or not listed:
        failures.append(f"document ingested during overload: {ack}, listed afterwards: {listed}")
    print(json.dumps({"closed_loop": closed, "open_loop": opened, "alive": alive, "listed": listed}, indent=2))
    print(
        f"sustainable {closed['rate_per_s']:.2f}/s (p50 {closed['p50_s']:.2f} s); at {rate:.2f}/s offered: "
        f"{opened['accepted']}/{opened['sent']} accepted, p50/p95/p99 "
        f"{opened['p50_s']:.2f}/{opened['p95_s']:.2f}/{opened['p99_s']:.2f} s, statuses {opened['statuses']}; "
        f"p50 ratio open/closed {opened['p50_s'] / closed['p50_s']:.2f}"
        if closed["completed"] and opened["accepted"]
        else "no completed requests"
    )
    for f in failures:
        print("FAIL:", f)
    if failures:
        print(log_tail)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
