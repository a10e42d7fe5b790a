"""How many uploads are processed at once: per tenant (429 past it) and in all (503 past it).

Ingest work is CPU-bound and one request can take minutes, so counting requests per minute does not
bound it. A slot is held from the moment the upload has been received until it is stored or refused.
The work itself runs on a small pool of threads at a lower CPU priority than the rest of the process,
so answering questions keeps its share of the cores while documents are being embedded.
"""

from __future__ import annotations

import math
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

from app.errors import RateLimitedError, ServiceBusyError

# Added to the process's nice value for ingest threads (Linux applies it per thread).
INGEST_NICENESS = 10


def _lower_priority() -> None:
    # Not Linux, or not allowed: the thread runs at normal priority.
    with suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + INGEST_NICENESS)


class IngestSlots:
    def __init__(self, per_tenant: int, total: int, retry_after_s: float) -> None:
        self.per_tenant = per_tenant
        self.total = total
        self.retry_after = str(max(1, math.ceil(retry_after_s)))
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()
        self.executor = ThreadPoolExecutor(max_workers=total, thread_name_prefix="ingest", initializer=_lower_priority)

    def in_use(self) -> int:
        with self._lock:
            return sum(self._busy.values())

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        """Hold one of ``tenant``'s slots for the block; raises at once when none is free."""
        with self._lock:
            if self._busy[tenant] >= self.per_tenant:
                raise RateLimitedError(
                    f"{self.per_tenant} uploads of yours are already being processed; retry when one has finished",
                    headers={"Retry-After": self.retry_after},
                )
            if sum(self._busy.values()) >= self.total:
                raise ServiceBusyError(
                    "the server is processing as many uploads as it can; retry shortly",
                    headers={"Retry-After": self.retry_after},
                )
            self._busy[tenant] += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[tenant] -= 1
                if self._busy[tenant] <= 0:
                    del self._busy[tenant]

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
