"""RemoteGenerator (over the openai client) against real HTTP servers.

* a second instance of this service, started as a subprocess (the real model behind it);
* a tiny Starlette app under uvicorn in a thread, for the failures a healthy server never shows on cue
  (5xx, garbage, stalls, a connection dropped mid-stream);
* a third instance configured with RAG_GENERATOR_BACKEND=openai pointing at the second one.

The test that kills the backend instance runs last in this module.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from app.testing import ServerProcess, free_port
from generation.errors import BackendError, BackendTimeoutError, OverloadedError
from generation.remote import RemoteGenerator
from generation.types import GenerationParams, StreamChunk

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
]


# --- a real instance of this service in a subprocess ------------------------------------


Instances = tuple[ServerProcess, str, ServerProcess]
"""(backend instance, its generator's model id, frontend instance using it as remote generator)."""


def _spawn(tmp: Path, name: str, env: dict[str, str]) -> ServerProcess:
    return ServerProcess(tmp / name, tmp / f"{name}.log", env)


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instances]:
    """(backend instance, its generator's model id, frontend instance using it as remote generator)."""
    tmp = tmp_path_factory.mktemp("remote")
    backend = _spawn(tmp, "backend", {})
    frontend: ServerProcess | None = None
    try:
        backend.ready_or_raise(300)
        models = httpx.get(f"{backend.url}/v1/models", timeout=10).json()["data"]
        model_id = next(m["id"] for m in models if m["kind"] == "chat")
        frontend = _spawn(
            tmp,
            "frontend",
            {
                "RAG_GENERATOR_BACKEND": "openai",
                "RAG_REMOTE_BASE_URL": f"{backend.url}/v1",
                "RAG_REMOTE_MODEL": model_id,
                "RAG_REMOTE_RETRIES": "1",
                "RAG_INDEX_SAVE_INTERVAL_S": "0",
            },
        )
        frontend.ready_or_raise(300)
        yield backend, model_id, frontend
    finally:
        for inst in (frontend, backend):
            if inst is not None:
                inst.stop()


# --- a tiny real server for scripted failures ---------------------------------------------


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    }


def _sse_chunk(text: str) -> bytes:
    event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    return f"data: {json.dumps(event)}\n\n".encode()


class ScriptedBackend:
    """Behaviour is picked by the request's ``model``; ``attempts`` counts requests per model."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        model = str(body["model"])
        self.attempts[model] += 1
        if model.startswith("flaky-"):  # "flaky-N": N answers of 503, then success
            if self.attempts[model] <= int(model.split("-")[1]):
                return JSONResponse({"error": {"message": "warming up"}}, status_code=503, headers={"Retry-After": "2"})
        elif model == "down":
            return JSONResponse({"error": {"message": "model crashed"}}, status_code=500)
        elif model == "bad-request":
            return JSONResponse({"error": {"message": "max_tokens is too large"}}, status_code=400)
        elif model == "garbage":
            return PlainTextResponse("<html>502 from some proxy</html>")
        elif model.startswith("slow"):
            await asyncio.sleep(10)
        elif model == "auth":  # answers with the Authorization header it received
            return JSONResponse(_completion(request.headers.get("authorization", "(none)")))
        elif model in ("drop", "stall", "no-done", "error-event"):
            return StreamingResponse(self._broken_stream(model), media_type="text/event-stream")
        if body.get("stream"):
            return StreamingResponse(self._good_stream(), media_type="text/event-stream")
        return JSONResponse(_completion("Paris."))

    async def _good_stream(self) -> AsyncIterator[bytes]:
        yield _sse_chunk("Par")
        yield _sse_chunk("is.")
        yield b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
        yield b"data: [DONE]\n\n"

    async def _broken_stream(self, how: str) -> AsyncIterator[bytes]:
        yield _sse_chunk("Par")
        yield _sse_chunk("is")
        if how == "drop":
            # An exception after the response started: uvicorn drops the connection mid-body.
            raise RuntimeError("simulated backend crash")
        if how == "stall":
            await asyncio.sleep(10)
        if how == "error-event":  # OpenAI-style in-band error after a 200 status line
            yield b'data: {"error": {"message": "out of memory"}}\n\n'
        # "no-done": the body just ends, with no finish_reason and no [DONE].


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[ScriptedBackend, str]]:
    backend = ScriptedBackend()
    port = free_port()
    config = uvicorn.Config(
        backend.app, host="127.0.0.1", port=port, log_level="critical", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "scripted backend did not start"
        time.sleep(0.05)
    yield backend, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def _run(gen: RemoteGenerator, coro_fn: Any) -> Any:
    async def main() -> Any:
        await gen.start()
        try:
            return await coro_fn()
        finally:
            await gen.stop()

    return asyncio.run(main())


async def _collect(gen: RemoteGenerator, params: GenerationParams, got: list[StreamChunk]) -> None:
    async for chunk in gen.stream(MESSAGES, params):
        got.append(chunk)


# --- against the scripted server ------------------------------------------------------------


def test_connection_refused_is_retried_then_backend_error() -> None:
    gen = RemoteGenerator(base_url=f"http://127.0.0.1:{free_port()}/v1", retries=2)
    with pytest.raises(BackendError, match="after 3 attempts") as info:
        _run(gen, lambda: gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
    assert not isinstance(info.value, BackendTimeoutError)
    assert "ConnectError" in info.value.message
    assert gen.queue_depth() == 0

    stream_gen = RemoteGenerator(base_url=f"http://127.0.0.1:{free_port()}/v1", retries=1)
    with pytest.raises(BackendError, match="after 2 attempts"):
        _run(stream_gen, lambda: _collect(stream_gen, GenerationParams(max_new_tokens=4), []))


def test_5xx_is_retried_until_it_succeeds(scripted: tuple[ScriptedBackend, str]) -> None:
    backend, url = scripted
    gen = RemoteGenerator(base_url=url, model="flaky-2", retries=2)
    result = _run(gen, lambda: gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
    assert result.text == "Paris."
    assert (result.prompt_tokens, result.completion_tokens) == (7, 2)  # the backend's usage, not an estimate
    assert backend.attempts["flaky-2"] == 3


def test_persistent_overload_and_5xx_give_up_after_retries(scripted: tuple[ScriptedBackend, str]) -> None:
    backend, url = scripted
    gen = RemoteGenerator(base_url=url, model="flaky-5", retries=1)
    with pytest.raises(OverloadedError) as overloaded:
        _run(gen, lambda: gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
    assert overloaded.value.retry_after == 2.0 and "warming up" in overloaded.value.message
    assert backend.attempts["flaky-5"] == 2

    down = RemoteGenerator(base_url=url, model="down", retries=1)
    with pytest.raises(BackendError, match=r"HTTP 500.*model crashed"):
        _run(down, lambda: down.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
    assert backend.attempts["down"] == 2


def test_4xx_and_garbage_are_backend_errors_without_retry(scripted: tuple[ScriptedBackend, str]) -> None:
    backend, url = scripted
    for model, pattern in (("bad-request", r"HTTP 400.*max_tokens is too large"), ("garbage", "unreadable")):
        gen = RemoteGenerator(base_url=url, model=model, retries=3)
        with pytest.raises(BackendError, match=pattern):
            _run(gen, lambda gen=gen: gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
        assert backend.attempts[model] == 1


def test_stream_parses_sse_until_done(scripted: tuple[ScriptedBackend, str]) -> None:
    _, url = scripted
    gen = RemoteGenerator(base_url=url, model="ok")
    got: list[StreamChunk] = []
    _run(gen, lambda: _collect(gen, GenerationParams(max_new_tokens=4), got))
    assert [c.delta for c in got[:-1]] == ["Par", "is."]
    final = got[-1].result
    assert final is not None and final.text == "Paris." and final.finish_reason == "stop"
    assert final.completion_tokens == gen.count_tokens("Paris.")  # no usage sent: the documented estimate


@pytest.mark.parametrize("how", ["drop", "no-done"])
def test_stream_broken_off_midway_is_backend_error_and_not_retried(
    scripted: tuple[ScriptedBackend, str], how: str
) -> None:
    backend, url = scripted
    gen = RemoteGenerator(base_url=url, model=how, retries=3)
    got: list[StreamChunk] = []
    with pytest.raises(BackendError) as info:
        _run(gen, lambda: _collect(gen, GenerationParams(max_new_tokens=4), got))
    assert not isinstance(info.value, BackendTimeoutError)
    assert [c.delta for c in got] == ["Par", "is"]
    assert backend.attempts[how] == 1
    assert gen.queue_depth() == 0


def test_in_band_stream_error_is_backend_error(scripted: tuple[ScriptedBackend, str]) -> None:
    backend, url = scripted
    gen = RemoteGenerator(base_url=url, model="error-event", retries=2)
    got: list[StreamChunk] = []
    with pytest.raises(BackendError, match="out of memory"):
        _run(gen, lambda: _collect(gen, GenerationParams(max_new_tokens=4), got))
    assert [c.delta for c in got] == ["Par", "is"]
    assert backend.attempts["error-event"] == 1


def test_api_key_is_sent_and_the_environment_key_never_is(
    scripted: tuple[ScriptedBackend, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = scripted
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-server")
    keyed = RemoteGenerator(base_url=url, model="auth", api_key="k1")
    assert _run(keyed, lambda: keyed.generate(MESSAGES, GenerationParams(max_new_tokens=4))).text == "Bearer k1"
    keyless = RemoteGenerator(base_url=url, model="auth")
    sent = _run(keyless, lambda: keyless.generate(MESSAGES, GenerationParams(max_new_tokens=4))).text
    assert "sk-not-for-this-server" not in sent


def test_timeouts_are_retried_then_backend_timeout_errors(scripted: tuple[ScriptedBackend, str]) -> None:
    backend, url = scripted
    gen = RemoteGenerator(base_url=url, model="slow-retried", timeout_s=0.5, retries=2)
    with pytest.raises(BackendTimeoutError, match="after 3 attempts"):
        _run(gen, lambda: gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
    assert backend.attempts["slow-retried"] == 3

    stalled = RemoteGenerator(base_url=url, model="stall", timeout_s=0.5)
    got: list[StreamChunk] = []
    with pytest.raises(BackendTimeoutError, match="mid-stream"):
        _run(stalled, lambda: _collect(stalled, GenerationParams(max_new_tokens=4), got))
    assert len(got) == 2


def test_in_flight_requests_are_bounded(scripted: tuple[ScriptedBackend, str]) -> None:
    _, url = scripted
    gen = RemoteGenerator(base_url=url, model="slow", timeout_s=5, max_queue=1)

    async def scenario() -> None:
        first = asyncio.create_task(gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))
        await asyncio.sleep(0)  # the task takes its slot before its first await
        assert gen.queue_depth() == 1
        with pytest.raises(OverloadedError):
            await gen.generate(MESSAGES, GenerationParams(max_new_tokens=4))
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert gen.queue_depth() == 0

    _run(gen, scenario)


def test_not_started_is_a_clear_error() -> None:
    gen = RemoteGenerator(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(BackendError, match="not started"):
        asyncio.run(gen.generate(MESSAGES, GenerationParams(max_new_tokens=4)))


# --- against a real second instance of this service --------------------------------------


def test_generate_and_stream_against_a_real_instance(instances: Instances) -> None:
    backend, model_id, _ = instances
    gen = RemoteGenerator(base_url=f"{backend.url}/v1", model=model_id)
    params = GenerationParams(max_new_tokens=8)
    result = _run(gen, lambda: gen.generate(MESSAGES, params))
    assert result.text.strip()
    assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= 8
    assert result.finish_reason in ("stop", "length")

    got: list[StreamChunk] = []
    _run(gen, lambda: _collect(gen, params, got))
    final = got[-1].result
    assert final is not None and all(c.result is None for c in got[:-1])
    assert "".join(c.delta for c in got) == final.text and final.text.strip()
    assert 0 < final.completion_tokens <= 8


def test_service_with_remote_backend_answers_ask(instances: Instances) -> None:
    _, _, frontend = instances
    with httpx.Client(base_url=frontend.url, timeout=120) as client:
        doc = b"The Lighthouse Museum opens at 9 am every day. It was founded in 1921 by Ada Bellamy."
        client.post("/ingest", files=[("files", ("guide.txt", doc))]).raise_for_status()
        resp = client.post("/ask", json={"question": "Who founded the Lighthouse Museum?", "max_new_tokens": 16})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["answer"].strip() and body["passages"][0]["source"] == "guide.txt"
        assert body["usage"]["completion_tokens"] > 0


def test_backend_killed_mid_stream_then_frontend_answers_502(instances: Instances) -> None:
    """Runs last: it kills the backend instance."""
    backend, model_id, frontend = instances
    gen = RemoteGenerator(base_url=f"{backend.url}/v1", model=model_id, retries=2)
    messages = [{"role": "user", "content": "Count from 1 to 200, separated by commas."}]
    got: list[StreamChunk] = []

    async def consume() -> None:
        async for chunk in gen.stream(messages, GenerationParams(max_new_tokens=256)):
            got.append(chunk)
            if len(got) == 1:
                backend.proc.kill()

    with pytest.raises(BackendError) as info:
        _run(gen, consume)
    assert got and got[0].delta
    assert all(c.result is None for c in got), "the stream must not look finished"
    assert not isinstance(info.value, BackendTimeoutError)
    assert backend.proc.wait(timeout=30) != 0

    resp = httpx.post(f"{frontend.url}/ask", json={"question": "When does the museum open?"}, timeout=60)
    assert resp.status_code == 502, resp.text
    assert set(resp.json()) == {"error"}
    err = resp.json()["error"]
    assert err["code"] == "backend_error" and "attempts" in err["message"]
    assert err["request_id"] == resp.headers["x-request-id"]
