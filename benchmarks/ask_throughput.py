"""/ask throughput at 1, 4, 16 and 64 concurrent streaming clients, batched and one-at-a-time, one run.

Two servers (the real app, ``app.testing.running_server``) run side by side on the same SQuAD paragraphs:

- "batched": default settings (on CPU the padded batch engine, generation/padded.py);
- "serial": ``RAG_MAX_BATCH_SIZE=1``, one generation at a time;
- optionally "continuous": ``RAG_BATCH_ENGINE=continuous``, transformers' continuous-batching manager.

At each level, closed-loop clients send streaming /ask requests (greedy, fixed ``max_new_tokens``, the
same questions for every server) until the level's request count is used up. The servers take turns
level by level, the order alternating, so load from other processes on the machine falls on all of
them alike; a level given twice (``--levels 4,4,16,16``) thus runs A-B then B-A and is reported merged
(summed walls and requests). Per server and level it prints requests/s, generated tokens/s (the
``usage`` of each final event), p50 and p95 latency, p50 time to first token (first ``token`` event),
then the ratios to "serial".

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.ask_throughput [--levels 1,4,16,64] [--requests 2,4,16,64]

Generation dominates, so the serial server sets the pace: a full run with the defaults takes long on a CPU
(benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import SQUAD, load_squad, percentile, running_server

MODES: dict[str, dict[str, str]] = {
    "batched": {},
    # One request at a time through the plain decoder (what "auto" picks on a CPU), on every device.
    "serial": {"RAG_MAX_BATCH_SIZE": "1", "RAG_BATCH_ENGINE": "padded"},
    "continuous": {"RAG_BATCH_ENGINE": "continuous"},
    "padded": {"RAG_BATCH_ENGINE": "padded"},
}
# Latency is the measurement here: a busy machine must not turn slow answers into 504s.
COMMON_ENV = {"RAG_REQUEST_TIMEOUT_S": "3600"}


@dataclass
class Record:
    ok: bool
    latency: float  # request sent -> final event
    ttft: float  # request sent -> first token event
    tokens: int  # completion tokens of the final event
    timings: dict[str, float] | None = None  # the final event's retrieval_ms, generation_ms, adjust_ms


@dataclass
class Level:
    mode: str
    clients: int
    wall: float
    records: list[Record]

    @property
    def ok(self) -> list[Record]:
        return [r for r in self.records if r.ok]

    def req_s(self) -> float:
        return len(self.ok) / self.wall

    def tok_s(self) -> float:
        return sum(r.tokens for r in self.ok) / self.wall


def _accelerator() -> str:
    import torch

    return f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"


async def ask(client: httpx.AsyncClient, body: dict[str, Any]) -> Record:
    t0 = time.perf_counter()
    ttft = float("nan")
    event = ""
    try:
        async with client.stream("POST", "/ask", json=body) as resp:
            if resp.status_code != 200:
                await resp.aread()
                return Record(False, time.perf_counter() - t0, ttft, 0)
            async for line in resp.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "token" and ttft != ttft:  # first token (nan != nan)
                        ttft = time.perf_counter() - t0
                    elif event == "final":
                        final = json.loads(line[6:])
                        latency = time.perf_counter() - t0
                        first = latency if ttft != ttft else ttft
                        return Record(True, latency, first, int(final["usage"]["completion_tokens"]), final["timings"])
                    elif event == "error":
                        break
    except httpx.HTTPError:
        pass
    return Record(False, time.perf_counter() - t0, ttft, 0)


async def run_level(url: str, mode: str, clients: int, questions: list[str], args: argparse.Namespace) -> Level:
    todo = deque(questions)
    records: list[Record] = []
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while todo:
            question = todo.popleft()
            body = {
                "question": question,
                "stream": True,
                "max_new_tokens": args.max_new_tokens,
                "temperature": 0,
                "top_k": args.top_k,
            }
            records.append(await ask(client, body))

    async with httpx.AsyncClient(base_url=url, timeout=3600, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return Level(mode, clients, wall, records)


def ingest(url: str, paragraphs: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=600) as client:
        files = [("files", (f"p{i:04d}.txt", text.encode())) for i, text in enumerate(paragraphs)]
        client.post("/ingest", files=files).raise_for_status()


def merge(levels: list[Level]) -> list[Level]:
    """One entry per (mode, clients): repeated levels add their walls and records."""
    out: dict[tuple[str, int], Level] = {}
    for lv in levels:
        seen = out.get((lv.mode, lv.clients))
        out[(lv.mode, lv.clients)] = (
            lv if seen is None else Level(lv.mode, lv.clients, seen.wall + lv.wall, seen.records + lv.records)
        )
    return list(out.values())


def print_table(levels: list[Level], modes: list[str]) -> None:
    print(
        f"\n{'clients':>7} {'mode':10} {'ok/sent':>8} {'wall s':>7} {'req/s':>7} {'tok/s':>7} "
        f"{'p50 s':>7} {'p95 s':>7} {'ttft p50':>9}"
    )
    for lv in levels:
        lat = [r.latency for r in lv.ok]
        ttft = [r.ttft for r in lv.ok]
        print(
            f"{lv.clients:>7} {lv.mode:10} {len(lv.ok):>4}/{len(lv.records):<3} {lv.wall:7.1f} {lv.req_s():7.3f} "
            f"{lv.tok_s():7.1f} {percentile(lat, 50):7.2f} {percentile(lat, 95):7.2f} {percentile(ttft, 50):9.2f}"
        )
    if "serial" not in modes:
        return
    by = {(lv.mode, lv.clients): lv for lv in levels}
    for mode in (m for m in modes if m != "serial"):
        print(f"\n{mode}/serial  {'req/s':>7} {'tok/s':>7} {'p50 lat':>8} {'p95 lat':>8} {'ttft p50':>9}")
        for clients in sorted({lv.clients for lv in levels}):
            a, s = by.get((mode, clients)), by.get(("serial", clients))
            if a is None or s is None or not a.ok or not s.ok:
                continue

            def ratio(x: float, y: float) -> str:
                return f"{x / y:.2f}x" if y else "n/a"

            def p(lv: Level, q: float, ttft: bool = False) -> float:
                return percentile([r.ttft if ttft else r.latency for r in lv.ok], q)

            print(
                f"{clients:>14} {ratio(a.req_s(), s.req_s()):>7} {ratio(a.tok_s(), s.tok_s()):>7} "
                f"{ratio(p(a, 50), p(s, 50)):>8} {ratio(p(a, 95), p(s, 95)):>8} "
                f"{ratio(p(a, 50, True), p(s, 50, True)):>9}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SQUAD)
    parser.add_argument("--paragraphs", type=int, default=40)
    parser.add_argument("--levels", default="1,4,16,64", help="concurrent clients per level")
    parser.add_argument("--requests", default="2,4,16,64", help="requests per level (same order as --levels)")
    parser.add_argument("--modes", default="batched,serial", help=f"servers to compare, from {sorted(MODES)}")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=2, help="passages per prompt (sets the prompt length)")
    parser.add_argument(
        "--one-server-at-a-time",
        action="store_true",
        help="run each server alone for all its levels (default: side by side, taking turns level by level)",
    )
    parser.add_argument("--dump", type=Path, help="write every record here (JSON lines, level by level)")
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        type=Path,
        help="record each server with py-spy (on PATH) during its level with the most clients, into "
        "DIR/pyspy-<mode>.txt (collapsed stacks per thread; benchmarks/research/profile_summary.py reads them). "
        "Quote no speed from a profiled run: py-spy pausing the process to sample cut a 64-client GPU server's "
        "requests/s by about 40 %%; it now samples without pausing (--nonblocking), which costs less but not nothing",
    )
    parser.add_argument("--profile-seconds", type=float, default=20)
    args = parser.parse_args()

    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    if len(counts) != len(levels) or any(m not in MODES for m in modes):
        parser.error("--requests needs one count per level, and --modes names from " + ", ".join(MODES))
    squad = load_squad(args.data, paragraphs=args.paragraphs)
    paragraphs, questions = squad.paragraphs, [q.text for q in squad.answerable()]
    print(
        f"{len(paragraphs)} SQuAD paragraphs, {len(questions)} questions; streaming /ask, greedy, "
        f"max_new_tokens={args.max_new_tokens}, top_k={args.top_k}; {os.cpu_count()} CPUs ({platform.machine()}); "
        f"{_accelerator()}; generator {os.environ.get('RAG_GENERATOR_MODEL', 'default')}"
    )

    if args.dump:
        args.dump.write_text("")
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    results: list[Level] = []
    plan: list[tuple[int, list[str]]] = []  # (clients, questions) per level, the same for every server
    offset = 0
    for clients, n in zip(levels, counts, strict=True):
        plan.append((clients, [questions[(offset + j) % len(questions)] for j in range(n)]))
        offset += n

    def run_one(url: str, mode: str, clients: int, qs: list[str]) -> None:
        with profiling(url, mode) if args.py_spy and clients == max(levels) else nullcontext():
            level = asyncio.run(run_level(url, mode, clients, qs, args))
        results.append(level)
        print(
            f"  {clients:>2} clients {mode:10} {len(level.ok)}/{len(qs)} ok in {level.wall:.1f} s: "
            f"{level.req_s():.3f} req/s, {level.tok_s():.1f} tok/s "
            f"({time.perf_counter() - t_start:.0f} s elapsed)",
            flush=True,
        )
        if args.dump:  # as it goes, so a run stopped early still leaves its records
            with args.dump.open("a") as fh:
                for r in level.records:
                    fh.write(json.dumps({"mode": mode, "clients": clients, **r.__dict__}) + "\n")

    @contextmanager
    def profiling(url: str, mode: str) -> Iterator[None]:
        port = url.rsplit(":", 1)[1]
        pid = subprocess.run(["pgrep", "-f", "--", f"--port {port}"], capture_output=True, text=True).stdout.split()
        out = args.py_spy / f"pyspy-{mode}.txt"
        cmd = ["py-spy", "record", "-p", pid[0] if pid else "0", "-d", str(int(args.profile_seconds))]
        try:
            proc = subprocess.Popen(
                [*cmd, "--nonblocking", "-r", "100", "-t", "-f", "raw", "-o", str(out)], stderr=subprocess.PIPE
            )
        except OSError as exc:  # no py-spy: the run goes on unprofiled
            print(f"py-spy did not start: {exc}", flush=True)
            yield
            return
        try:
            yield
        finally:
            _, err = proc.communicate()
            if proc.returncode:
                print(f"py-spy failed for {mode!r}: {err.decode(errors='replace')[-500:]}", flush=True)

    def prepare(url: str, mode: str) -> None:
        ingest(url, paragraphs)
        asyncio.run(run_level(url, mode, 1, questions[-1:], args))  # warm-up, not counted

    if args.one_server_at_a_time:
        # Each server alone on the machine for all its levels: on a GPU, servers side by side share it.
        for mode in modes:
            try:
                with running_server(env={**COMMON_ENV, **MODES[mode]}) as url:
                    prepare(url, mode)
                    print(f"server {mode!r} ready and warm after {time.perf_counter() - t_start:.0f} s", flush=True)
                    for clients, qs in plan:
                        run_one(url, mode, clients, qs)
            except RuntimeError as exc:
                print(f"server {mode!r} failed, left out: {str(exc)[-2000:]}", flush=True)
    else:
        with ExitStack() as stack:
            urls: dict[str, str] = {}
            for m in modes:
                try:
                    urls[m] = stack.enter_context(running_server(env={**COMMON_ENV, **MODES[m]}))
                except RuntimeError as exc:  # one engine failing to start must not cost the others' figures
                    print(f"server {m!r} did not start, left out: {str(exc)[-2000:]}", flush=True)
            modes = [m for m in modes if m in urls]
            for mode, url in urls.items():
                prepare(url, mode)
            print(f"servers ready and warm after {time.perf_counter() - t_start:.0f} s", flush=True)
            for i, (clients, qs) in enumerate(plan):
                for mode in modes if i % 2 == 0 else modes[::-1]:
                    run_one(urls[mode], mode, clients, qs)
    modes = [m for m in modes if any(lv.mode == m for lv in results)]
    merged = merge(results)
    merged.sort(key=lambda lv: (lv.clients, modes.index(lv.mode)))
    print_table(merged, modes)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
