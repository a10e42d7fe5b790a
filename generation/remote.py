"""A ``Generator`` that sends chat completions to an OpenAI-compatible server, through the ``openai`` client.

Works against vLLM, TGI, the llama.cpp server, OpenAI itself, or another instance of this service
(name that instance's generator model, as listed by its ``GET /v1/models``, to get plain generation
instead of its retrieval-augmented answers).

The client retries connection errors, timeouts, 408, 409, 429 and 5xx answers itself (``retries``
times, exponential backoff, honouring ``Retry-After``); a stream is only retried before it has started.
What is left is mapped onto ``generation.errors``:

* a backend that stays overloaded (429/503) raises ``OverloadedError`` (carrying its Retry-After);
* running past ``timeout_s`` raises ``BackendTimeoutError``;
* any other failure, an unreadable answer, or a stream that breaks off before it finished raises
  ``BackendError``.

There is no local tokenizer, so ``count_tokens`` is an estimate (see there); token usage comes from
the backend's ``usage`` object whenever it sends one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncOpenAI

from generation.errors import BackendError, BackendTimeoutError, GenerationError, OverloadedError
from generation.types import ChatMessage, GenerationParams, GenerationResult, StreamChunk

_OVERLOAD_STATUSES = frozenset({429, 503})
# The openai client retries these statuses (and connection errors); a failure with one of them has used every try.
_RETRIED_STATUSES = frozenset({408, 409, 429})
# Sent when no key is configured: the client insists on one, and must never pick up OPENAI_API_KEY for a
# server that is not OpenAI's.
_NO_KEY = "none"


class RemoteGenerator:
    """Generation over HTTP. Cheap to build; ``start()`` opens the client, ``stop()`` closes it."""

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
    ) -> None:
        """
        Args:
            base_url: the server's API root, ``/v1`` included, e.g. ``http://host:8000/v1``.
            model: the ``model`` sent with every request; also this generator's ``model_name``.
            api_key: sent as ``Authorization: Bearer <api_key>`` when set.
            timeout_s: each try must connect, and receive each part of the answer, within this.
            retries: extra tries after a connection error, timeout, 429 or 5xx (0 disables retries).
            max_queue: requests in flight at once; one more raises ``OverloadedError``.
            context_window: the remote model's context length in tokens (prompt budget).
        """
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.context_window = context_window
        self.timeout_s = timeout_s
        self.retries = retries
        self._api_key = api_key
        self._max_queue = max_queue
        self._in_flight = 0
        self._client: AsyncOpenAI | None = None

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
        if self._client is None:
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key or _NO_KEY,
                timeout=self.timeout_s,
                max_retries=self.retries,
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        client = self._started()
        self._acquire()
        try:
            try:
                completion = await client.chat.completions.create(**self._request(messages, params), stream=False)
            except openai.APIError as exc:
                raise self._error(exc) from exc
            except ValueError as exc:  # a JSON content type over a body that is not JSON
                raise BackendError(f"backend returned an unreadable completion: {exc}") from exc
            try:
                choice = completion.choices[0]
                text = choice.message.content or ""
                if not isinstance(text, str):
                    raise TypeError("message.content is not a string")
                finish = str(choice.finish_reason or "stop")
            except (AttributeError, IndexError, TypeError) as exc:
                raise BackendError(f"backend returned an unreadable completion: {completion!r:.200}") from exc
            prompt, completion_tokens = self._usage(completion.usage, messages, text)
            return GenerationResult(
                text=text, prompt_tokens=prompt, completion_tokens=completion_tokens, finish_reason=finish
            )
        finally:
            self._release()

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamChunk]:
        """Yields content deltas as the backend sends them, then one chunk carrying the result."""
        client = self._started()
        self._acquire()
        try:
            try:
                events = await client.chat.completions.create(
                    **self._request(messages, params), stream=True, stream_options={"include_usage": True}
                )
            except openai.APIError as exc:
                raise self._error(exc) from exc
            # From here on tokens may have gone out to our caller: the client never retries a started stream.
            parts: list[str] = []
            finish: str | None = None
            usage: Any = None
            try:
                async for event in events:
                    usage = getattr(event, "usage", None) or usage
                    for choice in getattr(event, "choices", None) or []:
                        delta = getattr(getattr(choice, "delta", None), "content", None)
                        if delta:
                            parts.append(delta)
                            yield StreamChunk(delta=delta)
                        if getattr(choice, "finish_reason", None):
                            finish = str(choice.finish_reason)
            except openai.APITimeoutError as exc:
                raise BackendTimeoutError(f"backend sent nothing for {self.timeout_s:g} s mid-stream") from exc
            except openai.APIConnectionError as exc:
                raise BackendError(f"backend stream broke off: {_describe(exc)}") from exc
            except openai.APIError as exc:
                raise BackendError(f"backend failed mid-stream: {exc.message}") from exc
            except ValueError as exc:  # an event whose data is not JSON
                raise BackendError(f"backend sent an unreadable stream event: {exc}") from exc
            finally:
                await events.close()
            if finish is None:
                # Every OpenAI-compatible server ends a finished choice with a finish_reason.
                if not parts:
                    kind = events.response.headers.get("content-type", "no content type")
                    raise BackendError(f"backend answered with no completion events ({kind})")
                raise BackendError("backend closed the stream before it finished")
            text = "".join(parts)
            prompt, completion_tokens = self._usage(usage, messages, text)
            yield StreamChunk(
                delta="",
                result=GenerationResult(
                    text=text, prompt_tokens=prompt, completion_tokens=completion_tokens, finish_reason=finish
                ),
            )
        finally:
            self._release()

    # --- helpers -----------------------------------------------------------------------

    def _started(self) -> AsyncOpenAI:
        if self._client is None:
            raise BackendError("the remote generator is not started")
        return self._client

    def _acquire(self) -> None:
        if self._in_flight >= self._max_queue:
            raise OverloadedError(f"{self._in_flight} requests are already waiting for the remote backend")
        self._in_flight += 1

    def _release(self) -> None:
        self._in_flight -= 1

    def _request(self, messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.repetition_penalty != 1.0:
            # Not an OpenAI parameter, but vLLM, TGI and llama.cpp read it; sent only when asked for.
            request["extra_body"] = {"repetition_penalty": params.repetition_penalty}
        return request

    def _error(self, exc: openai.APIError) -> GenerationError:
        """The project's error for a request that failed before any answer came back."""
        tries = f" after {self.retries + 1} attempts" if self.retries else ""
        if isinstance(exc, openai.APITimeoutError):
            return BackendTimeoutError(f"backend did not answer within {self.timeout_s:g} s{tries}")
        if isinstance(exc, openai.APIConnectionError):
            return BackendError(f"backend at {self.base_url} failed{tries}: {_describe(exc)}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status not in _RETRIED_STATUSES and status < 500:
                tries = ""
            detail = _error_message(exc)
            if status in _OVERLOAD_STATUSES:
                return OverloadedError(
                    f"backend is overloaded (HTTP {status}){tries}: {detail}",
                    retry_after=_retry_after(exc.response.headers.get("retry-after")),
                )
            return BackendError(f"backend answered HTTP {status}{tries}: {detail}")
        # APIResponseValidationError and the like: the backend answered 200 with something else.
        return BackendError(f"backend returned an unreadable completion: {exc.message}")

    def _usage(self, usage: Any, messages: list[ChatMessage], text: str) -> tuple[int, int]:
        prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
        if isinstance(prompt, int) and isinstance(completion, int):
            return prompt, completion
        return sum(self.count_tokens(m["content"]) for m in messages), self.count_tokens(text) if text else 0


def _error_message(exc: openai.APIStatusError) -> str:
    """The ``error.message`` of an OpenAI-style (or this service's) error body, else the raw start."""
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(body, str) and body:
        return repr(body[:200])
    return exc.message


def _retry_after(value: str | None) -> float:
    try:
        return max(1.0, float(value or "1"))
    except ValueError:
        return 1.0


def _describe(exc: BaseException) -> str:
    """The client's message plus the transport error under it ("Connection error. (ConnectError: ...)")."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None:
        text += f" ({type(cause).__name__}{': ' + str(cause) if str(cause) else ''})"
    return text
