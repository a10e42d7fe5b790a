"""Time to first streamed content on /ask (native SSE) and /v1/chat/completions (OpenAI SSE), one client.

Starts the real service (app.testing.running_server), ingests SQuAD paragraphs, then asks each question once
per stream kind, one request at a time, and reports medians of

- first event: request sent -> the first SSE event of any kind (a progress event, where the server sends them);
- first content: request sent -> the first non-empty text (``token`` delta, ``delta.content``);
- complete: request sent -> the ``final`` event / the last chunk;

and how many streams' concatenated text differed from the final adjusted answer.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.stream_ttft [--questions 8] [--max-new-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import SQUAD, running_server


def _events(resp: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE response; comment lines are skipped."""
    event, data = "message", []
    for line in resp.iter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _native(client: httpx.Client, question: str, max_new: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first_event = first_content = None
    text, answer = "", None
    body = {"question": question, "stream": True, "max_new_tokens": max_new}
    with client.stream("POST", "/ask", json=body) as resp:
        resp.raise_for_status()
        for event, data in _events(resp):
            now = time.perf_counter() - t0
            first_event = now if first_event is None else first_event
            payload = json.loads(data)
            if event == "token" and payload.get("delta"):
                first_content = now if first_content is None else first_content
                text += payload["delta"]
            elif event == "final":
                answer = payload["answer"]
            elif event == "error":
                raise RuntimeError(data)
    return {
        "first_event": first_event,
        "first_content": first_content,
        "complete": time.perf_counter() - t0,
        "agrees": text == answer,
    }


def _openai(client: httpx.Client, question: str, max_new: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first_event = first_content = None
    text, answer = "", None
    body = {"model": "rag", "messages": [{"role": "user", "content": question}], "stream": True, "max_tokens": max_new}
    with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        for _, data in _events(resp):
            now = time.perf_counter() - t0
            first_event = now if first_event is None else first_event
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            content = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
            if content:
                first_content = now if first_content is None else first_content
                text += content
            if chunk.get("answer_id"):
                answer = chunk.get("answer")
    return {
        "first_event": first_event,
        "first_content": first_content,
        "complete": time.perf_counter() - t0,
        "agrees": text == answer,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--squad", type=Path, default=SQUAD)
    ap.add_argument("--paragraphs", type=int, default=20)
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--ready-timeout", type=float, default=1800, help="seconds to wait for the server to load")
    args = ap.parse_args()
    article = json.loads(args.squad.read_text())["data"][0]
    paragraphs = article["paragraphs"][: args.paragraphs]
    questions = [qa["question"] for p in paragraphs for qa in p["qas"] if not qa.get("is_impossible")]
    questions = questions[:: max(1, len(questions) // args.questions)][: args.questions]
    with (
        running_server(env={"RAG_REQUEST_TIMEOUT_S": "600"}, ready_timeout=args.ready_timeout) as url,
        httpx.Client(base_url=url, timeout=600) as c,
    ):
        files = [("files", (f"p{i}.txt", p["context"].encode())) for i, p in enumerate(paragraphs)]
        c.post("/ingest", files=files).raise_for_status()
        _native(c, questions[0], args.max_new_tokens)  # warm-up
        results: dict[str, list[dict[str, Any]]] = {"native /ask": [], "openai": []}
        for q in questions:
            results["native /ask"].append(_native(c, q, args.max_new_tokens))
            results["openai"].append(_openai(c, q, args.max_new_tokens))
    print(f"{len(questions)} questions, max_new_tokens={args.max_new_tokens}, medians in ms")
    print(f"{'stream':<12} {'first event':>12} {'first content':>14} {'complete':>10} {'text != answer':>15}")
    for name, rows in results.items():

        def med(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return statistics.median(r[key] for r in rows) * 1000

        differ = sum(not r["agrees"] for r in rows)
        print(
            f"{name:<12} {med('first_event'):>12.0f} {med('first_content'):>14.0f} {med('complete'):>10.0f}"
            f" {differ:>10}/{len(rows)}"
        )


if __name__ == "__main__":
    main()
