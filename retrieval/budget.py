"""A time budget and a cancel flag for one ingestion, checked by the work between its steps.

Parsing, chunking and embedding run in threads, which cannot be stopped from outside, so each
long loop calls ``check()`` now and then: past the deadline it raises ``IngestTimeoutError``,
after ``cancel()`` (the client went away) ``IngestCancelledError``. Nothing is stored until
every file of a request has been parsed, chunked and embedded, so a stop leaves nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from retrieval.errors import IngestCancelledError, IngestTimeoutError


class WorkBudget:
    """``seconds=None`` never times out (cancel still works)."""

    def __init__(self, seconds: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be positive")
        self.seconds = seconds
        self._clock = clock
        self._deadline = None if seconds is None else clock() + seconds
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float | None:
        """Seconds left, or None without a deadline."""
        return None if self._deadline is None else max(0.0, self._deadline - self._clock())

    def check(self) -> None:
        """Raise if the work should stop: cancelled, or out of time."""
        if self._cancelled.is_set():
            raise IngestCancelledError("the client went away; nothing was stored")
        if self._deadline is not None and self._clock() > self._deadline:
            raise IngestTimeoutError(
                f"processing the upload took longer than its budget of {self.seconds:g} seconds; nothing was stored"
            )


class Ticker:
    """Calls ``budget.check()`` every ``every`` ticks, so a tight loop pays for one clock read per batch."""

    __slots__ = ("_budget", "_count", "_every")

    def __init__(self, budget: WorkBudget, every: int = 256) -> None:
        self._budget = budget
        self._every = every
        self._count = 0

    def check(self) -> None:
        self._count = 0
        self._budget.check()

    def tick(self) -> None:
        self._count += 1
        if self._count >= self._every:
            self._count = 0
            self._budget.check()
