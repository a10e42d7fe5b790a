"""The ``Generator`` seam and the local, batched implementation over a loaded causal LM.

``LocalGenerator`` runs on transformers' continuous-batching engine (``init_continuous_batching``): a
long-lived manager whose background thread admits new requests at every decode step, so a request
never waits for a whole batch to finish. benchmarks/generation_batching.py measured it against
one-by-one ``generate``, ``generate_batch`` and static padded batches, and checked that its greedy
output is token-for-token the same as plain ``generate``. The engine gives us per-request
``max_new_tokens``, token streaming and ``cancel_request``; what it lacks we add here:

* a bounded admission count (``max_queue``), failing fast with ``OverloadedError``;
* sampling: the engine's ``do_sample`` is per manager, so greedy requests go to one manager and
  sampled ones to a second, lazily started one with per-request temperature and top-p.
  ``repetition_penalty`` has no per-request form in the engine and is ignored (documented limitation);
* per-step batch statistics for metrics (``on_batch``), and failure of every pending request when the
  engine's thread dies, so no caller waits forever.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from generation.errors import GenerationError, InvalidGenerationRequestError, OverloadedError
from generation.model import LoadedModel
from generation.types import ChatMessage, GenerationParams, GenerationResult, StreamChunk

logger = logging.getLogger(__name__)

BatchObserver = Callable[[int, int, float], None]  # (batch_size, new_tokens, seconds)

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


@dataclass
class _Request:
    id: str
    prompt_tokens: int
    max_new_tokens: int
    manager: Any
    events: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    finished: bool = False


_CANCELLED = object()  # event pushed by stop() to end a stream early


class LocalGenerator:
    """Batched generation over a ``LoadedModel`` (same code on CPU and GPU; sizes follow the device)."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
        on_batch: BatchObserver | None = None,
        kv_cache_tokens: int | None = None,
    ) -> None:
        """
        Args:
            loaded: the model and tokenizer.
            max_batch_size: most requests decoded together in one step.
            max_wait_ms: kept for interface parity with ``DynamicBatcher``; the continuous-batching engine
                admits new requests at every step, so there is no batch-forming wait.
            max_queue: requests waiting plus running; one more raises ``OverloadedError``.
            on_batch: called after every decode step with (requests in the step, new tokens, seconds).
            kv_cache_tokens: KV-cache size per engine, in tokens (default: enough for ``max_batch_size``
                requests of 1024 tokens, and at least one full context window).
        """
        if max_queue < 1 or max_batch_size < 1:
            raise ValueError("max_queue and max_batch_size must be at least 1")
        self.loaded = loaded
        self.model_name = loaded.name
        self.context_window = loaded.context_window
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch
        self.kv_cache_tokens = kv_cache_tokens or max(max_batch_size * 1024, loaded.context_window + 512)
        self._max_queue = max_queue
        self._requests: dict[str, _Request] = {}
        self._ids = itertools.count()
        self._greedy: Any = None
        self._sampling: Any = None
        self._started = False
        self._eos_ids = self._eos_token_ids()
        # per-step statistics, gathered on the event loop (see _on_output)
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
        if self._started:
            return
        self._greedy = await asyncio.to_thread(self._start_manager, False)
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for req in list(self._requests.values()):
            req.manager.cancel_request(req.id)
            req.events.put_nowait(_CANCELLED)
        managers = [m for m in (self._greedy, self._sampling) if m is not None]
        self._greedy = self._sampling = None
        for manager in managers:
            await asyncio.to_thread(manager.stop, block=True, timeout=60)

    async def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        async with aclosing(self._stream(messages, params)) as chunks:
            async for chunk in chunks:
                if chunk.result is not None:
                    return chunk.result
        raise GenerationError("generation ended without a result")

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamChunk]:
        return self._stream(messages, params)

    # --- internals ---------------------------------------------------------------------

    def _eos_token_ids(self) -> set[int]:
        eos = self.loaded.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.loaded.tokenizer.eos_token_id is not None:
            ids.add(self.loaded.tokenizer.eos_token_id)
        return ids

    def _start_manager(self, sampling: bool) -> Any:
        """Blocking: builds and starts one continuous-batching manager."""
        from transformers import ContinuousBatchingConfig, GenerationConfig

        tok = self.loaded.tokenizer
        page = 256
        gen_kwargs: dict[str, Any] = {"do_sample": False}
        if sampling:
            # Non-default values make the engine create the temperature/top-p processors, which then
            # take each request's own value.
            gen_kwargs = {"do_sample": True, "temperature": 0.7, "top_p": 0.95}
        gen_config = GenerationConfig(
            max_new_tokens=128,
            eos_token_id=sorted(self._eos_ids) if self._eos_ids else None,
            pad_token_id=tok.pad_token_id,
            **gen_kwargs,
        )
        cb_config = ContinuousBatchingConfig(
            page_size=page,
            # Sized explicitly: by default the engine takes a share of free memory, most of the RAM on a CPU.
            num_blocks=-(-self.kv_cache_tokens // page),
            max_batch_tokens=4096 if self.loaded.device.startswith("cuda") else 2048,
            max_requests_per_batch=self.max_batch_size,
            auto_switch_to_flash=False,  # both managers share the model: keep its attention as loaded
            per_request_processors=sampling,
        )
        manager = self.loaded.model.init_continuous_batching(
            generation_config=gen_config, continuous_batching_config=cb_config
        )
        manager.start()
        return manager

    def _manager_for(self, params: GenerationParams) -> Any:
        if params.greedy:
            return self._greedy
        if self._sampling is None:
            # Cheap: the engine allocates its cache on its own thread.
            self._sampling = self._start_manager(True)
        return self._sampling

    def _submit(self, messages: list[ChatMessage], params: GenerationParams) -> _Request:
        if not self._started:
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
        manager = self._manager_for(params)
        req = _Request(
            id=f"gen-{next(self._ids)}", prompt_tokens=len(ids), max_new_tokens=params.max_new_tokens, manager=manager
        )
        # Register before adding, so no output can reach the engine's shared queue instead of us.
        manager.register_result_handler(req.id, lambda out, r=req: self._on_output(r, out))
        kwargs: dict[str, Any] = {}
        if not params.greedy:
            kwargs = {"temperature": float(params.temperature), "top_p": float(params.top_p)}
        added = manager.add_request(
            ids, request_id=req.id, max_new_tokens=params.max_new_tokens, streaming=True, **kwargs
        )
        if added is None:
            self._drop_handler(req)
            raise GenerationError("the generation engine is not accepting requests")
        self._requests[req.id] = req
        return req

    def _on_output(self, req: _Request, output: Any) -> None:
        """On the event loop: one engine output (a token step) for ``req``."""
        req.events.put_nowait(output)
        if self.on_batch is None:
            return
        # All outputs of one engine step arrive in a single loop callback; the flush scheduled by the
        # first of them runs right after it, so it sees the whole step.
        self._step_requests += 1
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

    @staticmethod
    def _drop_handler(req: _Request) -> None:
        router = req.manager.output_router  # the engine has no public unregister
        with router._lock:
            router.result_handlers.pop(req.id, None)

    async def _next_event(self, req: _Request) -> Any:
        while True:
            try:
                return await asyncio.wait_for(req.events.get(), timeout=_LIVENESS_POLL_S)
            except TimeoutError:
                if not req.manager.is_running():
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
                tokens = list(event.generated_tokens)
                text = tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
                done = event.is_finished()
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
            if not req.finished:
                # The consumer went away (client disconnect, task cancelled): free the engine slot.
                req.manager.cancel_request(req.id)
                self._drop_handler(req)

    def _result(self, req: _Request, tokens: list[int], text: str, reason: str) -> GenerationResult:
        completion = len(tokens) - (1 if tokens and tokens[-1] in self._eos_ids else 0)
        return GenerationResult(
            text=text, prompt_tokens=req.prompt_tokens, completion_tokens=completion, finish_reason=reason
        )
