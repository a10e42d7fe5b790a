"""Overhead of the OpenAI-compatible route over /ask, through the real HTTP service.

One server, the SQuAD paragraphs ingested; the same questions go to ``POST /ask`` (the baseline) and
to ``POST /v1/chat/completions`` (model "rag"), non-streaming, one request at a time, interleaved
(the order alternates per question so neither route always runs on a warmer cache), with the same
``max_new_tokens`` and greedy decoding. Prints the median latency of each, the overhead ratio of the
medians, and the median of the per-question differences.

    .venv/bin/python -m benchmarks.openai_overhead [--questions 30] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import httpx

from benchmarks.common import ingest_paragraphs, load_squad, running_server


def _timed(call: Callable[[str], httpx.Response], question: str) -> float:
    t0 = time.perf_counter()
    resp = call(question)
    elapsed = time.perf_counter() - t0
    resp.raise_for_status()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    squad = load_squad()
    paragraphs, questions = squad.paragraphs, [q.text for q in squad.answerable()]
    # Every k-th question: spread over all articles, deterministic.
    step = max(1, len(questions) // (args.questions + args.warmup))
    picked = questions[::step][: args.questions + args.warmup]

    with running_server() as url, httpx.Client(base_url=url, timeout=300) as client:
        t0 = time.perf_counter()
        ingest_paragraphs(client, paragraphs)
        print(f"ingested {len(paragraphs)} paragraphs in {time.perf_counter() - t0:.1f} s")

        def ask(q: str) -> httpx.Response:
            return client.post("/ask", json={"question": q, "max_new_tokens": args.max_new_tokens, "temperature": 0})

        def chat(q: str) -> httpx.Response:
            return client.post(
                "/v1/chat/completions",
                json={
                    "model": "rag",
                    "messages": [{"role": "user", "content": q}],
                    "max_tokens": args.max_new_tokens,
                    "temperature": 0,
                },
            )

        for q in picked[: args.warmup]:
            _timed(ask, q)
            _timed(chat, q)

        ask_s: list[float] = []
        chat_s: list[float] = []
        for i, q in enumerate(picked[args.warmup :]):
            pair: list[tuple[list[float], Callable[[str], httpx.Response]]] = [(ask_s, ask), (chat_s, chat)]
            for times, fn in pair if i % 2 == 0 else reversed(pair):
                times.append(_timed(fn, q))

    n = len(ask_s)
    p50_ask, p50_chat = statistics.median(ask_s), statistics.median(chat_s)
    diffs = [c - a for a, c in zip(ask_s, chat_s, strict=True)]
    print(f"questions: {n}, max_new_tokens: {args.max_new_tokens}, sequential, interleaved")
    print(f"/ask                 p50 {p50_ask * 1000:8.1f} ms  (baseline)")
    print(f"/v1/chat/completions p50 {p50_chat * 1000:8.1f} ms")
    print(f"overhead ratio of medians: {p50_chat / p50_ask - 1:+.2%}  (target < 5%)")
    print(f"median per-question difference: {statistics.median(diffs) * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
