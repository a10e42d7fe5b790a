"""A ``Generator`` that sends chat completions to an OpenAI-compatible server.

Works against vLLM, TGI, the llama.cpp server, OpenAI itself, or another instance of this service
(name that instance's generator model, as listed by its ``GET /v1/models``, to get plain generation
instead of its retrieval-augmented answers).

Failure handling, all surfaced as ``generation.errors`` classes:

* connection errors, 429 and 5xx answers are retried ``retries`` times with exponential backoff
  (``backoff_s``, 2x, 4x, ...); a stream is only retried before its response has started;
* a backend that stays overloaded (429/503) raises ``OverloadedError`` (carrying its Retry-After);
* any other failure, an unreadable body, or a stream that breaks off before it finished raises
  ``BackendError``; running past ``timeout_s`` raises ``BackendTimeoutError``.

There is no local tokenizer, so ``count_tokens`` is an estimate (see there); token usage comes from
the backend's ``usage`` object whenever it sends one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx

from generation.errors import BackendError, BackendTimeoutError, OverloadedError
from generation.types import ChatMessage, GenerationParams, GenerationResult, StreamChunk

logger = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_OVERLOAD_STATUSES = frozenset({429, 503})
# Connection-level failures that happen before the backend saw the request, or that a retry can fix.
_RETRY_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class RemoteGenerator:
    """Generation over HTTP. Cheap to build; ``start()`` opens the connection pool, ``stop()`` closes it."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str = "default",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
        max_queue: int = 256,
        context_window: int = 8192,
        backoff_s: float = 0.25,
    ) -> None:
        """
        Args:
            base_url: the server's API root, ``/v1`` included, e.g. ``http://host:8000/v1``.
            model: the ``model`` sent with every request; also this generator's ``model_name``.
            api_key: sent as ``Authorization: Bearer <api_key>`` when set.
            timeout_s: a plain request must finish within this; a stream must start within it and
                never go this long without data.
            retries: extra attempts after a connection error, 429 or 5xx (0 disables retries).
            max_queue: requests in flight at once; one more raises ``OverloadedError``.
            context_window: the remote model's context length in tokens (prompt budget).
            backoff_s: the first retry waits this long, each later one twice as long as the one before.
        """
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.context_window = context_window
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._api_key = api_key
        self._max_queue = max_queue
        self._in_flight = 0
        self._client: httpx.AsyncClient | None = None

    # --- Generator protocol ------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Estimate: about four characters per token for English BPE vocabularies, rounded up.

        The remote tokenizer is unknown, so prompt budgets built on this are approximate; keep
        ``context_window`` a little below the backend's real limit.
        """
        return len(text) // 4 + 1

    @property
    def max_queue(self) -> int:
        return self._max_queue

    def queue_depth(self) -> int:
        return self._in_flight

    async def start(self) -> None:
        if self._client is not None:
            return
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=self._max_queue, max_keepalive_connections=32),
        )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        self._acquire()
        try:
            body = self._body(messages, params, stream=False)
            for attempt in range(self.retries + 1):
                try:
                    async with asyncio.timeout(self.timeout_s):
                        resp = await self._http().post("/chat/completions", json=body)
                except TimeoutError as exc:
                    raise BackendTimeoutError(f"backend did not answer within {self.timeout_s:g} s") from exc
                except _RETRY_ERRORS as exc:
                    await self._retry_or_raise(attempt, _describe(exc), exc)
                    continue
                except httpx.TimeoutException as exc:
                    raise BackendTimeoutError(f"backend did not answer within {self.timeout_s:g} s") from exc
                except httpx.HTTPError as exc:
                    raise BackendError(f"request to the backend failed: {_describe(exc)}") from exc
                if resp.status_code in _RETRY_STATUSES and attempt < self.retries:
                    await self._retry_or_raise(attempt, f"HTTP {resp.status_code}", None)
                    continue
                self._raise_for_status(resp.status_code, resp.headers, resp.content, attempt)
                return self._parse_completion(resp.content, messages)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._release()

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamChunk]:
        """Yields content deltas as the backend sends them, then one chunk carrying the result."""
        self._acquire()
        try:
            body = self._body(messages, params, stream=True)
            for attempt in range(self.retries + 1):
                try:
                    request = self._http().build_request("POST", "/chat/completions", json=body)
                    resp = await self._http().send(request, stream=True)
                except _RETRY_ERRORS as exc:
                    await self._retry_or_raise(attempt, _describe(exc), exc)
                    continue
                except httpx.TimeoutException as exc:
                    raise BackendTimeoutError(f"backend did not start answering within {self.timeout_s:g} s") from exc
                except httpx.HTTPError as exc:
                    raise BackendError(f"request to the backend failed: {_describe(exc)}") from exc
                try:
                    if resp.status_code != 200:
                        content = await _read_quietly(resp)
                        if resp.status_code in _RETRY_STATUSES and attempt < self.retries:
                            await self._retry_or_raise(attempt, f"HTTP {resp.status_code}", None)
                            continue
                        self._raise_for_status(resp.status_code, resp.headers, content, attempt)
                    # From here on tokens may have gone out to our caller: never retry.
                    chunks = self._read_stream(resp, messages)
                    try:
                        async for chunk in chunks:
                            yield chunk
                    finally:
                        await chunks.aclose()
                    return
                finally:
                    await resp.aclose()
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._release()

    # --- helpers -----------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise BackendError("the remote generator is not started")
        return self._client

    def _acquire(self) -> None:
        if self._in_flight >= self._max_queue:
            raise OverloadedError(f"{self._in_flight} requests are already waiting for the remote backend")
        self._in_flight += 1

    def _release(self) -> None:
        self._in_flight -= 1

    def _body(self, messages: list[ChatMessage], params: GenerationParams, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": stream,
        }
        if params.repetition_penalty != 1.0:
            # Not an OpenAI parameter, but vLLM, TGI and llama.cpp read it; sent only when asked for.
            body["repetition_penalty"] = params.repetition_penalty
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _retry_or_raise(self, attempt: int, reason: str, exc: Exception | None) -> None:
        if attempt >= self.retries:
            raise BackendError(f"backend at {self.base_url} failed after {attempt + 1} attempts: {reason}") from exc
        delay = self.backoff_s * (2**attempt)
        logger.warning("remote generator: %s; retry %d/%d in %.2f s", reason, attempt + 1, self.retries, delay)
        await asyncio.sleep(delay)

    def _raise_for_status(self, status: int, headers: httpx.Headers, content: bytes, attempt: int) -> None:
        if status == 200:
            return
        detail = _error_message(content)
        tries = f" after {attempt + 1} attempts" if attempt else ""
        if status in _OVERLOAD_STATUSES:
            raise OverloadedError(
                f"backend is overloaded (HTTP {status}){tries}: {detail}", retry_after=_retry_after(headers)
            )
        raise BackendError(f"backend answered HTTP {status}{tries}: {detail}")

    def _parse_completion(self, content: bytes, messages: list[ChatMessage]) -> GenerationResult:
        try:
            data = json.loads(content)
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError("message.content is not a string")
            finish = str(choice.get("finish_reason") or "stop")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"backend returned an unreadable completion: {_snippet(content)}") from exc
        prompt, completion = self._usage(data.get("usage"), messages, text)
        return GenerationResult(text=text, prompt_tokens=prompt, completion_tokens=completion, finish_reason=finish)

    async def _read_stream(
        self, resp: httpx.Response, messages: list[ChatMessage]
    ) -> AsyncGenerator[StreamChunk, None]:
        parts: list[str] = []
        finish: str | None = None
        usage: Any = None
        done = seen_events = False
        lines = resp.aiter_lines()
        try:
            while not done:
                try:
                    # httpx's read timeout bounds each network read; this bounds each SSE line.
                    async with asyncio.timeout(self.timeout_s):
                        line = await anext(lines)
                except StopAsyncIteration:
                    break
                if not line.startswith("data:"):
                    continue  # blank separators, comments, "event:" lines
                payload = line[5:].strip()
                seen_events = True
                if payload == "[DONE]":
                    done = True
                    break
                event = _parse_event(payload)
                if event.get("usage"):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        yield StreamChunk(delta=delta)
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
        except TimeoutError as exc:
            raise BackendTimeoutError(f"backend sent nothing for {self.timeout_s:g} s mid-stream") from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"backend sent nothing for {self.timeout_s:g} s mid-stream") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"backend stream broke off: {_describe(exc)}") from exc
        # Servers that never send [DONE] still send a finish_reason; neither means the stream broke off.
        if not done and finish is None:
            if not seen_events:
                kind = resp.headers.get("content-type", "no content type")
                raise BackendError(f"backend answered with no server-sent events ({kind})")
            raise BackendError("backend closed the stream before it finished")
        text = "".join(parts)
        prompt, completion = self._usage(usage, messages, text)
        yield StreamChunk(
            delta="",
            result=GenerationResult(
                text=text, prompt_tokens=prompt, completion_tokens=completion, finish_reason=finish or "stop"
            ),
        )

    def _usage(self, usage: Any, messages: list[ChatMessage], text: str) -> tuple[int, int]:
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                return prompt, completion
        return sum(self.count_tokens(m["content"]) for m in messages), self.count_tokens(text) if text else 0


def _parse_event(payload: str) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise BackendError(f"backend sent an unreadable stream event: {payload[:200]!r}") from exc
    if not isinstance(event, dict):
        raise BackendError(f"backend sent an unreadable stream event: {payload[:200]!r}")
    if event.get("error"):
        # OpenAI-style in-band error after a 200 status line.
        raise BackendError(f"backend failed mid-stream: {_error_message(payload.encode())}")
    return event


async def _read_quietly(resp: httpx.Response) -> bytes:
    try:
        return await resp.aread()
    except httpx.HTTPError:
        return b""


def _error_message(content: bytes) -> str:
    """The ``error.message`` of an OpenAI-style (or this service's) error body, else the raw start."""
    try:
        err = json.loads(content)["error"]
        return str(err["message"] if isinstance(err, dict) else err)
    except (ValueError, KeyError, TypeError):
        return _snippet(content)


def _snippet(content: bytes) -> str:
    return repr(content[:200].decode("utf-8", "replace")) if content else "(empty body)"


def _retry_after(headers: httpx.Headers) -> float:
    try:
        return max(1.0, float(headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
