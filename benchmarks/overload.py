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

``--slow-upload`` runs another case instead: uploads that are cheap in bytes but expensive to process.
One ordinary tenant asks questions one after another, first alone (quiet), then while four other tenants
each upload the worst document that passes the limits: the "a a a ..." text just under the chunk cap
(twice), a DOCX of tiny paragraphs that inflates to just under the unzipped cap, and HTML nested as deep
as the element cap allows. Reports the ordinary client's /ask p50/p95 in both phases and each hostile
upload's time and status. Targets: loaded p95 at most 2x quiet; every hostile upload ends (stored or
refused) within the ingest time budget plus a small allowance for receiving the body.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.overload --slow-upload --ingest-timeout 120
"""

from __future__ import annotations

import argparse
import asyncio
import io
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


# --- slow uploads ------------------------------------------------------------------------------------------

# Limits the hostile documents are sized against (the service's defaults; passed to the server explicitly).
MAX_CHUNKS = 8_000
MAX_UNZIPPED = 64 * 1024 * 1024
MAX_HTML_ELEMENTS = 300_000
# Chunk stride of the default chunker (200 tokens, 40 overlap): one "a" is one token.
_STRIDE = 160
# Seconds allowed on top of the budget: sending the body, parsing the form, answering.
_BUDGET_ALLOWANCE_S = 10.0


def worst_text() -> bytes:
    """ "a a a ...": one token per two bytes, sized to chunk into just under the chunk cap."""
    return b"a " * ((MAX_CHUNKS - 10) * _STRIDE)


def worst_docx() -> bytes:
    """A DOCX of tiny paragraphs: about 100 KB zipped, just under the unzipped cap inflated."""
    import zipfile

    import docx

    base = io.BytesIO()
    docx.Document().save(base)
    src = zipfile.ZipFile(io.BytesIO(base.getvalue()))
    others = sum(i.file_size for i in src.infolist() if i.filename != "word/document.xml")
    template = src.read("word/document.xml").decode()
    para = "<w:p><w:r><w:t>a a a a</w:t></w:r></w:p>"
    count = (MAX_UNZIPPED - others - len(template) - 4096) // len(para)
    at = template.index("<w:body>") + len("<w:body>")
    body = (template[:at] + para * count + template[at:]).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in src.infolist():
            archive.writestr(info.filename, body if info.filename == "word/document.xml" else src.read(info.filename))
    return out.getvalue()


def worst_html() -> bytes:
    """Divs nested as deep as the element cap allows (html, head, body and p take four)."""
    depth = MAX_HTML_ELEMENTS - 10
    return ("<html><body>" + "<div>" * depth + "<p>deep text</p>" + "</div>" * depth + "</body></html>").encode()


async def ask_until(
    url: str, key: str, questions: list[str], ask: Ask, stop: asyncio.Event | None, count: int
) -> list[tuple[int, float]]:
    """One client asking back to back: ``count`` questions, or until ``stop`` is set (and at least ``count``)."""
    rng = random.Random(3)
    out: list[tuple[int, float]] = []
    async with httpx.AsyncClient(base_url=url, timeout=600, headers={"Authorization": f"Bearer {key}"}) as client:
        while len(out) < count or (stop is not None and not stop.is_set()):
            status, dt, _, _ = await one(client, rng.choice(questions), ask)
            out.append((status, dt))
    return out


async def hostile_upload(url: str, key: str, name: str, data: bytes) -> dict[str, Any]:
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=1800, headers={"Authorization": f"Bearer {key}"}) as client:
        try:
            r = await client.post("/ingest", files=[("files", (name, data))])
            status, detail = r.status_code, r.text[:200]
        except httpx.HTTPError as exc:
            status, detail = -1, f"{type(exc).__name__}: {exc}"
    return {
        "file": name,
        "bytes": len(data),
        "status": status,
        "seconds": round(time.perf_counter() - t0, 1),
        "detail": detail,
    }


async def slow_upload_case(
    url: str, key: str, hostile: list[tuple[str, str, bytes]], questions: list[str], ask: Ask, quiet_n: int
) -> dict[str, Any]:
    quiet = await ask_until(url, key, questions, ask, None, quiet_n)
    stop = asyncio.Event()
    asker = asyncio.create_task(ask_until(url, key, questions, ask, stop, quiet_n))
    uploads = await asyncio.gather(*(hostile_upload(url, k, name, data) for k, name, data in hostile))
    stop.set()
    loaded = await asker

    def summary(rows: list[tuple[int, float]]) -> dict[str, Any]:
        ok = [dt for status, dt in rows if status == 200]
        return {
            "asked": len(rows),
            "ok": len(ok),
            "statuses": dict(Counter(status for status, _ in rows)),
            "p50_s": round(percentile(ok, 50), 2),
            "p95_s": round(percentile(ok, 95), 2),
        }

    return {"quiet": summary(quiet), "loaded": summary(loaded), "uploads": uploads}


def run_slow_upload(args: argparse.Namespace) -> None:
    ask: Ask = {"max_new_tokens": args.max_new_tokens, "top_k": args.top_k}
    paragraphs, questions = load_corpus()
    hostile_docs = [("worst-a.txt", worst_text()), ("zip-heavy.docx", worst_docx()), ("nested.html", worst_html())]
    hostile_docs.append(("worst-b.txt", hostile_docs[0][1]))
    keys = {"ordinary": "key-ordinary", **{f"hostile{i}": f"key-hostile{i}" for i in range(len(hostile_docs))}}
    hostile = [(keys[f"hostile{i}"], name, data) for i, (name, data) in enumerate(hostile_docs)]
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "RAG_API_KEYS": ",".join(f"{k}:{tenant}" for tenant, k in keys.items()),
            "RAG_RATE_LIMIT": "",
            "RAG_MAX_QUEUE": "8",
            "RAG_INGEST_TIMEOUT_S": str(args.ingest_timeout),
            "RAG_MAX_CHUNKS_PER_DOCUMENT": str(MAX_CHUNKS),
            "RAG_MAX_UNZIPPED_BYTES": str(MAX_UNZIPPED),
            "RAG_MAX_HTML_ELEMENTS": str(MAX_HTML_ELEMENTS),
        }
        server = ServerProcess(Path(tmp) / "data", Path(tmp) / "server.log", env)
        try:
            ok, why = server.wait_ready(600)
            if not ok:
                raise SystemExit(f"server did not start: {why}\n" + (Path(tmp) / "server.log").read_text()[-3000:])
            headers = {"Authorization": f"Bearer {keys['ordinary']}"}
            with httpx.Client(base_url=server.url, timeout=600, headers=headers) as c:
                files = [("files", (f"p{i}.txt", p.encode(), "text/plain")) for i, p in enumerate(paragraphs)]
                assert c.post("/ingest", files=files).status_code == 200
            result = asyncio.run(slow_upload_case(server.url, keys["ordinary"], hostile, questions, ask, args.quiet_n))
            alive = server.proc.poll() is None
            with httpx.Client(base_url=server.url, timeout=60) as c:
                hostile_docs_stored = {
                    name: c.get("/documents", headers={"Authorization": f"Bearer {k}"}).json()["total"]
                    for k, name, _ in hostile
                }
        finally:
            server.stop()
        log_tail = (Path(tmp) / "server.log").read_text()[-2000:]
    quiet, loaded = result["quiet"], result["loaded"]
    ratio = loaded["p95_s"] / quiet["p95_s"] if quiet["p95_s"] else float("nan")
    result.update(
        p95_ratio=round(ratio, 2),
        p50_ratio=round(loaded["p50_s"] / quiet["p50_s"], 2) if quiet["p50_s"] else None,
        ingest_timeout_s=args.ingest_timeout,
        hostile_documents_stored=hostile_docs_stored,
        alive=alive,
    )
    print(json.dumps(result, indent=2))
    if not alive:
        failures.append("server died")
    if ratio > 2:
        failures.append(f"loaded /ask p95 is {ratio:.2f}x the quiet run (target <= 2x)")
    for u in result["uploads"]:
        if u["seconds"] > args.ingest_timeout + _BUDGET_ALLOWANCE_S:
            failures.append(f"{u['file']} took {u['seconds']} s, over the {args.ingest_timeout:g} s budget")
        if u["status"] not in (200, 413, 429, 503):
            failures.append(f"{u['file']} ended with {u['status']}: {u['detail']}")
    for f in failures:
        print("FAIL:", f)
    if failures:
        print(log_tail)
    sys.exit(1 if failures else 0)


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
    parser.add_argument("--slow-upload", action="store_true", help="run the slow-upload case instead")
    parser.add_argument("--ingest-timeout", type=float, default=120.0, help="RAG_INGEST_TIMEOUT_S (--slow-upload)")
    parser.add_argument("--quiet-n", type=int, default=12, help="questions asked alone (--slow-upload)")
    args = parser.parse_args()
    if args.slow_upload:
        run_slow_upload(args)
        return
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
