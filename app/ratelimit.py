"""Rate limiting with the `limits` library (the engine under slowapi): requests per key, and failed
authentications per client address."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.errors import RateLimitedError


class RateLimiter:
    def __init__(self, spec: str) -> None:
        self.enabled = bool(spec.strip())
        self._item = parse(spec) if self.enabled else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, identity: str) -> None:
        """Count one request for ``identity``; raise RateLimitedError (429) past the limit."""
        if self._item is None:
            return
        if not self._limiter.hit(self._item, identity):
            self._refuse(identity, "rate limit of {item} exceeded; retry in {wait} s")

    def check_not_exceeded(self, identity: str, message: str) -> None:
        """Raise RateLimitedError if ``identity`` is at the limit already, without counting anything."""
        if self._item is not None and not self._limiter.test(self._item, identity):
            self._refuse(identity, message)

    def count(self, identity: str) -> None:
        """Count one event (a failure) for ``identity``; never raises."""
        if self._item is not None:
            self._limiter.hit(self._item, identity)

    def _refuse(self, identity: str, message: str) -> None:
        assert self._item is not None
        reset_at, _remaining = self._limiter.get_window_stats(self._item, identity)
        wait = max(1, math.ceil(reset_at - time.time()))
        raise RateLimitedError(message.format(item=self._item, wait=wait), headers={"Retry-After": str(wait)})
