"""The ``Generator`` seam and the local, batched implementation over a loaded causal LM.

``LocalGenerator`` owns what every request needs: a bounded admission count (``max_queue``, failing
fast with ``OverloadedError``), the chat template, the context-window check, streamed text that never
splits a multi-byte character, per-step batch statistics (``on_batch``), and failure of every pending
request when the engine dies, so no caller waits forever. Under it a ``DecodeEngine``
(generation/decoding.py) runs the batches, chosen by device:

* GPU: transformers' continuous-batching manager (generation/continuous.py);
* CPU: a small left-padded batch decoder (generation/padded.py). The manager's packed attention grows
  with the square of the requests in flight without flash kernels, which makes it slower than serving
  one request at a time on CPU.

Both admit new requests at every decode step, so a request never waits for a whole batch to finish.
Either engine can be chosen on either device (``RAG_BATCH_ENGINE``); docs/evaluation.md has the
measurements behind the defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from generation.decoding import DecodeEngine, TokenEvent
from generation.errors import GenerationError, InvalidGenerationRequestError, OverloadedError
from generation.model import LoadedModel
from generation.types import ChatMessage, GenerationParams, GenerationResult, StreamChunk

logger = logging.getLogger(__name__)

BatchObserver = Callable[[int, int, float], None]  # (batch_size, new_tokens, seconds)

EngineName = Literal["auto", "continuous", "padded"]

# How often a waiting stream checks that the engine thread is still alive.
_LIVENESS_POLL_S = 1.0


class Generator(Protocol):
    """What the HTTP layer needs from a text generator (local model or remote server)."""

    model_name: str
    context_window: int

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this generator's prompt (used for prompt budgeting)."""
        ...

    async def start(self) -> None:
        """Begin background batching (called from the FastAPI lifespan)."""
        ...

    async def stop(self) -> None:
        """Finish or cancel in-flight requests and release the workers."""
        ...

    async def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        """The whole answer. Raises ``OverloadedError`` at once when the queue is full."""
        ...

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamChunk]:
        """Deltas as they are generated; the last chunk carries the result. Closing it cancels the request."""
        ...

    def queue_depth(self) -> int:
        """Requests waiting plus running."""
        ...

    @property
    def max_queue(self) -> int: ...


def pick_engine(loaded: LoadedModel, engine: EngineName = "auto") -> Literal["continuous", "padded"]:
    """The batch engine for ``loaded``: "auto" is the continuous-batching manager on CUDA, where its kernels
    pay off, and the padded decoder elsewhere, for models whose cache it can pad (plain attention layers)."""
    from generation import padded

    if engine == "padded" and not padded.supports(loaded.model):
        raise ValueError(f"the padded batch engine cannot run {loaded.name}: its cache has non-standard layers")
    if engine != "auto":
        return engine
    if loaded.device.startswith("cuda") or not padded.supports(loaded.model):
        return "continuous"
    return "padded"


@dataclass
class _Request:
    id: str
    prompt_tokens: int
    max_new_tokens: int
    events: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    finished: bool = False


_CANCELLED = object()  # event pushed by stop() to end a stream early


class LocalGenerator:
    """Batched generation over a ``LoadedModel`` (same code on CPU and GPU; the engine follows the device)."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_batch_size: int = 32,
        max_queue: int = 256,
        on_batch: BatchObserver | None = None,
        kv_cache_tokens: int | None = None,
        engine: EngineName = "auto",
    ) -> None:
        """
        Args:
            loaded: the model and tokenizer.
            max_batch_size: most requests decoded together in one step (1 serves them one at a time).
            max_queue: requests waiting plus running; one more raises ``OverloadedError``.
            on_batch: called after every engine step with (requests in the step, new tokens, seconds).
            kv_cache_tokens: KV-cache size in tokens (default: enough for ``max_batch_size`` requests of 1024
                tokens, and at least one full context window): allocated by each continuous-batching
                manager; a bound on rows x width for the padded engine, whose cache grows with its batch.
            engine: "continuous", "padded", or "auto" (see ``pick_engine``).
        """
        if max_queue < 1 or max_batch_size < 1:
            raise ValueError("max_queue and max_batch_size must be at least 1")
        self.loaded = loaded
        self.model_name = loaded.name
        self.context_window = loaded.context_window
        self.max_batch_size = max_batch_size
        self.on_batch = on_batch
        self.kv_cache_tokens = kv_cache_tokens or max(max_batch_size * 1024, loaded.context_window + 512)
        self.engine_name = pick_engine(loaded, engine)
        self._max_queue = max_queue
        self._requests: dict[str, _Request] = {}
        self._ids = itertools.count()
        self._engine: DecodeEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._eos_ids = self._eos_token_ids()
        # per-step statistics, gathered on the event loop (see _on_events)
        self._step_requests = 0
        self._step_flush_pending = False
        self._last_step_t = time.perf_counter()

    # --- Generator protocol ------------------------------------------------------------

    @property
    def max_queue(self) -> int:
        return self._max_queue

    def queue_depth(self) -> int:
        return len(self._requests)

    def count_tokens(self, text: str) -> int:
        return len(self.loaded.tokenizer.encode(text, add_special_tokens=False))

    async def start(self) -> None:
        if self._engine is not None:
            return
        self._loop = asyncio.get_running_loop()
        engine = self._build_engine()
        await asyncio.to_thread(engine.start)
        self._engine = engine

    async def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        for req in list(self._requests.values()):
            engine.cancel(req.id)
            req.events.put_nowait(_CANCELLED)
        await asyncio.to_thread(engine.stop)

    async def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        async with aclosing(self._stream(messages, params)) as chunks:
            async for chunk in chunks:
                if chunk.result is not None:
                    return chunk.result
        raise GenerationError("generation ended without a result")

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamChunk]:
        return self._stream(messages, params)

    # --- internals ---------------------------------------------------------------------

    def _build_engine(self) -> DecodeEngine:
        if self.engine_name == "padded":
            from generation.padded import PaddedBatchEngine

            return PaddedBatchEngine(
                self.loaded,
                self._deliver,
                max_batch_size=self.max_batch_size,
                eos_ids=self._eos_ids,
                max_cache_tokens=self.kv_cache_tokens,
            )
        from generation.continuous import ContinuousEngine

        return ContinuousEngine(
            self.loaded,
            self._deliver,
            max_batch_size=self.max_batch_size,
            eos_ids=self._eos_ids,
            kv_cache_tokens=self.kv_cache_tokens,
        )

    def _eos_token_ids(self) -> set[int]:
        eos = self.loaded.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.loaded.tokenizer.eos_token_id is not None:
            ids.add(self.loaded.tokenizer.eos_token_id)
        return ids

    def _submit(self, messages: list[ChatMessage], params: GenerationParams) -> _Request:
        if self._engine is None:
            raise GenerationError("the generator is not started")
        if len(self._requests) >= self._max_queue:
            raise OverloadedError(f"{len(self._requests)} generation requests in flight; retry later")
        if params.max_new_tokens < 1:
            raise InvalidGenerationRequestError("max_new_tokens must be at least 1")
        ids = self.loaded.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        ids = list(ids)
        if len(ids) + params.max_new_tokens > self.context_window:
            raise InvalidGenerationRequestError(
                f"prompt of {len(ids)} tokens plus max_new_tokens {params.max_new_tokens} exceeds the "
                f"context window of {self.context_window}"
            )
        req = _Request(id=f"gen-{next(self._ids)}", prompt_tokens=len(ids), max_new_tokens=params.max_new_tokens)
        # Registered first, so no event can arrive for a request we do not know yet.
        self._requests[req.id] = req
        try:
            self._engine.add(req.id, ids, params)
        except BaseException:
            self._requests.pop(req.id, None)
            raise
        return req

    def _deliver(self, events: list[TokenEvent]) -> None:
        """From any thread: hand one engine step's events to the event loop."""
        loop = self._loop
        if loop is None:
            return
        # RuntimeError: the loop has closed (shutdown), and nobody waits for these events any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_events, events)

    def _on_events(self, events: list[TokenEvent]) -> None:
        """On the event loop: the events of one engine step."""
        for event in events:
            req = self._requests.get(event.request_id)
            if req is not None:
                req.events.put_nowait(event)
        if self.on_batch is None:
            return
        # A step's events may come in several callbacks (the continuous manager sends one per request, all
        # in one loop iteration); the flush scheduled by the first runs after them, so it sees the whole step.
        self._step_requests += len(events)
        if not self._step_flush_pending:
            self._step_flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush_step)

    def _flush_step(self) -> None:
        now = time.perf_counter()
        n, seconds = self._step_requests, now - self._last_step_t
        self._step_requests, self._step_flush_pending, self._last_step_t = 0, False, now
        if self.on_batch is not None and n:
            try:
                self.on_batch(n, n, seconds)
            except Exception:  # metrics must never break generation
                logger.exception("on_batch callback failed")

    async def _next_event(self, req: _Request) -> Any:
        while True:
            try:
                return await asyncio.wait_for(req.events.get(), timeout=_LIVENESS_POLL_S)
            except TimeoutError:
                if self._engine is None or not self._engine.is_running():
                    raise GenerationError("the generation engine stopped") from None

    async def _stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncGenerator[StreamChunk]:
        req = self._submit(messages, params)
        tokenizer = self.loaded.tokenizer
        sent = ""  # text already yielded
        tokens: list[int] = []
        try:
            while True:
                event = await self._next_event(req)
                if event is _CANCELLED:
                    req.finished = True
                    yield StreamChunk("", self._result(req, tokens, sent, "cancelled"))
                    return
                if event.error is not None:
                    req.finished = True
                    raise GenerationError(f"generation failed: {event.error}")
                tokens = list(event.tokens)
                text = tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
                done = event.finished
                # Hold back a trailing partial multi-byte character until the next token completes it.
                if not done and text.endswith("\ufffd"):
                    continue
                delta = text[len(sent) :] if text.startswith(sent) else ""
                sent = text if text.startswith(sent) else sent
                if done:
                    req.finished = True
                    stopped = bool(tokens) and tokens[-1] in self._eos_ids
                    reason = "stop" if stopped or len(tokens) < req.max_new_tokens else "length"
                    yield StreamChunk(delta, self._result(req, tokens, sent, reason))
                    return
                if delta:
                    yield StreamChunk(delta)
        finally:
            self._requests.pop(req.id, None)
            if not req.finished and self._engine is not None:
                # The consumer went away (client disconnect, task cancelled): free the engine slot.
                self._engine.cancel(req.id)

    def _result(self, req: _Request, tokens: list[int], text: str, reason: str) -> GenerationResult:
        completion = len(tokens) - (1 if tokens and tokens[-1] in self._eos_ids else 0)
        return GenerationResult(
            text=text, prompt_tokens=req.prompt_tokens, completion_tokens=completion, finish_reason=reason
        )
