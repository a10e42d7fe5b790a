"""Per-key rate limiting with the `limits` library (the engine under slowapi)."""

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
            reset_at, _remaining = self._limiter.get_window_stats(self._item, identity)
            wait = max(1, math.ceil(reset_at - time.time()))
            raise RateLimitedError(
                f"rate limit of {self._item} exceeded; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
