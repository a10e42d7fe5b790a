"""DynamicBatcher and select_batch, without HTTP or a model."""

from __future__ import annotations

import asyncio
import threading

import pytest

from generation.batching import DynamicBatcher, Pending, select_batch
from generation.errors import OverloadedError


def _pending(loop: asyncio.AbstractEventLoop, item: int, tokens: int = 0) -> Pending[int, int]:
    return Pending(item, loop.create_future(), tokens)


def test_select_batch_respects_size_and_skips_cancelled() -> None:
    loop = asyncio.new_event_loop()
    try:
        entries = [_pending(loop, i) for i in range(6)]
        entries[1].future.cancel()
        batch, consumed = select_batch(entries, max_batch_size=3)
        assert [p.item for p in batch] == [0, 2, 3]
        assert consumed == 4
    finally:
        loop.close()


def test_select_batch_token_budget_always_takes_first() -> None:
    loop = asyncio.new_event_loop()
    try:
        entries = [_pending(loop, 0, tokens=50), _pending(loop, 1, tokens=30), _pending(loop, 2, tokens=30)]
        batch, consumed = select_batch(entries, max_batch_size=10, max_tokens=85)
        assert [p.item for p in batch] == [0, 1] and consumed == 2
        big = [_pending(loop, 7, tokens=500), _pending(loop, 8, tokens=1)]
        batch, consumed = select_batch(big, max_batch_size=10, max_tokens=100)
        assert [p.item for p in batch] == [7] and consumed == 1
        assert select_batch([], max_batch_size=4) == ([], 0)
    finally:
        loop.close()


def test_concurrent_submits_share_batches_and_get_own_results() -> None:
    calls: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        return [x * 10 for x in items]

    async def main() -> list[int]:
        b: DynamicBatcher[int, int] = DynamicBatcher(process, max_batch_size=8, max_wait_ms=20)
        await b.start()
        try:
            return list(await asyncio.gather(*(b.submit(i) for i in range(12))))
        finally:
            await b.stop()

    results = asyncio.run(main())
    assert results == [i * 10 for i in range(12)]
    assert max(len(c) for c in calls) == 8  # grouped, never over the limit
    assert len(calls) < 12


def test_full_queue_raises_overloaded_and_cancel_removes_waiting() -> None:
    gate = threading.Event()
    seen: list[list[int]] = []

    def process(items: list[int]) -> list[int]:
        gate.wait(5)
        seen.append(list(items))
        return items

    async def main() -> None:
        b: DynamicBatcher[int, int] = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0, max_queue=2)
        await b.start()
        try:
            first = asyncio.create_task(b.submit(0))
            await asyncio.sleep(0.05)  # item 0 is now running (blocked on the gate)
            waiting = [asyncio.create_task(b.submit(i)) for i in (1, 2)]
            await asyncio.sleep(0.01)
            with pytest.raises(OverloadedError):
                await b.submit(3)
            assert b.depth() == 3
            waiting[0].cancel()
            await asyncio.sleep(0.01)
            assert b.depth() == 2
            gate.set()
            assert await first == 0
            assert await waiting[1] == 2
            with pytest.raises(asyncio.CancelledError):
                await waiting[0]
        finally:
            gate.set()
            await b.stop()

    asyncio.run(main())
    assert [1] not in seen  # the cancelled item never reached process()


def test_process_exception_reaches_every_caller_of_the_batch() -> None:
    def process(items: list[int]) -> list[int]:
        raise ValueError(f"boom {len(items)}")

    async def main() -> list[BaseException | int]:
        b: DynamicBatcher[int, int] = DynamicBatcher(process, max_batch_size=4, max_wait_ms=20)
        await b.start()
        try:
            return list(await asyncio.gather(*(b.submit(i) for i in range(3)), return_exceptions=True))
        finally:
            await b.stop()

    results = asyncio.run(main())
    assert all(isinstance(r, ValueError) and str(r) == "boom 3" for r in results)


def test_wrong_result_count_and_stop_fail_callers() -> None:
    async def main() -> None:
        b: DynamicBatcher[int, int] = DynamicBatcher(lambda items: [], max_batch_size=4, max_wait_ms=0)
        await b.start()
        with pytest.raises(Exception, match="0 results for 1"):
            await b.submit(1)
        await b.stop()
        with pytest.raises(Exception, match="not started"):
            await b.submit(1)

    asyncio.run(main())
