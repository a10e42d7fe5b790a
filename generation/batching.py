"""A small generic dynamic batcher: concurrent ``submit()`` calls share one ``process()`` call.

One asyncio task owns the waiting deque (the queue is one owner); which items form the next batch is
decided by the pure function ``select_batch``, unit-tested without any model. ``process`` runs in a
worker thread so the event loop stays free. Used for query embeddings; the local generator uses the
transformers continuous-batching engine instead (see generation/engine.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from generation.errors import GenerationError, OverloadedError

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)


@dataclass
class Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    tokens: int = 0  # cost of the item for a token budget (0 when unused)

    @property
    def cancelled(self) -> bool:
        return self.future.done()


def select_batch(
    waiting: Sequence[Pending[T, R]], *, max_batch_size: int, max_tokens: int | None = None
) -> tuple[list[Pending[T, R]], int]:
    """Choose the next batch from the head of ``waiting`` (FIFO).

    Entries whose caller went away (future already done) are skipped. The batch stops at
    ``max_batch_size`` entries, or before the entry that would push the summed ``tokens`` over
    ``max_tokens``; the first live entry is always taken so an oversized item cannot starve.

    Returns the batch and how many entries of ``waiting`` were consumed (taken or skipped).
    """
    batch: list[Pending[T, R]] = []
    used_tokens = 0
    consumed = 0
    for entry in waiting:
        if len(batch) >= max_batch_size:
            break
        if entry.cancelled:
            consumed += 1
            continue
        if max_tokens is not None and batch and used_tokens + entry.tokens > max_tokens:
            break
        batch.append(entry)
        used_tokens += entry.tokens
        consumed += 1
    return batch, consumed


@dataclass
class _State(Generic[T, R]):
    waiting: deque[Pending[T, R]] = field(default_factory=deque)
    running: list[Pending[T, R]] = field(default_factory=list)


class DynamicBatcher(Generic[T, R]):
    """Batches concurrent submits into one ``process(items) -> results`` call (results in item order)."""

    def __init__(
        self,
        process: Callable[[list[T]], list[R]],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
        name: str = "batcher",
        max_tokens: int | None = None,
        cost: Callable[[T], int] | None = None,
    ) -> None:
        """
        Args:
            process: the batched work, run in a worker thread; must return one result per item, in order.
            max_batch_size: most items per ``process`` call.
            max_wait_ms: how long the first item of a batch waits for company before the batch runs.
            max_queue: items waiting (not yet running); one more makes ``submit`` raise ``OverloadedError``.
            name: for logs.
            max_tokens, cost: an optional budget per batch, ``cost(item)`` summed over the batch.
        """
        if max_batch_size < 1 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be at least 1")
        self.process = process
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.name = name
        self.max_tokens = max_tokens
        self.cost = cost
        self._state: _State[T, R] = _State()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def depth(self) -> int:
        """Items waiting plus items in the batch being processed."""
        return sum(not p.cancelled for p in self._state.waiting) + len(self._state.running)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Nobody else will answer these callers now: the waiting ones and the batch cut short.
        pending = [*self._state.running, *self._state.waiting]
        self._state.waiting.clear()
        self._state.running = []
        for entry in pending:
            if not entry.future.done():
                entry.future.set_exception(GenerationError(f"{self.name} stopped"))

    async def submit(self, item: T) -> R:
        if self._task is None or self._wakeup is None:
            raise GenerationError(f"{self.name} is not started")
        live = sum(not p.cancelled for p in self._state.waiting)
        if live >= self.max_queue:
            raise OverloadedError(f"{self.name}: {live} items waiting; retry later")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        tokens = self.cost(item) if self.cost is not None else 0
        self._state.waiting.append(Pending(item, future, tokens))
        self._wakeup.set()
        # If the caller is cancelled, the future is cancelled with it and select_batch skips the entry.
        return await future

    async def _run(self) -> None:
        assert self._wakeup is not None
        state = self._state
        while True:
            while not any(not p.cancelled for p in state.waiting):
                state.waiting.clear()
                self._wakeup.clear()
                await self._wakeup.wait()
            # Give concurrent callers a moment to join, unless the batch is already full.
            if self.max_wait_s > 0 and len(state.waiting) < self.max_batch_size:
                await asyncio.sleep(self.max_wait_s)
            batch, consumed = select_batch(
                state.waiting, max_batch_size=self.max_batch_size, max_tokens=self.max_tokens
            )
            for _ in range(consumed):
                state.waiting.popleft()
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[Pending[T, R]]) -> None:
        self._state.running = batch
        try:
            results = await asyncio.to_thread(self.process, [p.item for p in batch])
            if len(results) != len(batch):
                raise GenerationError(f"{self.name}: process returned {len(results)} results for {len(batch)} items")
        except Exception as exc:  # every caller of this batch gets the error
            logger.debug("%s: batch of %d failed: %s", self.name, len(batch), exc)
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        finally:
            self._state.running = []
        for p, result in zip(batch, results, strict=True):
            if not p.future.done():
                p.future.set_result(result)
