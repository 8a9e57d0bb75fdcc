"""WorkLane: calls run in its one thread, each caller gets its own result or its own error, a
failing call neither fails nor re-runs the others, and close finishes what was queued."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from core.errors import BatcherClosed
from core.work_lane import WorkLane


class Calls:
    """Counts the calls per argument and the threads they ran in."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def square(self, value: int, *, fail_on: int | None = None) -> int:
        with self.lock:
            self.counts[value] = self.counts.get(value, 0) + 1
        self.threads.add(threading.current_thread().name)
        time.sleep(0.0005)  # like a search: long enough that callers queue up meanwhile
        if value == fail_on:
            raise ValueError(f"no square for {value}")
        return value * value


def test_concurrent_callers_get_their_own_results_from_the_lanes_one_thread() -> None:
    calls = Calls()
    lane = WorkLane("test-lane")

    async def main() -> list[int]:
        return await asyncio.gather(*(lane.run(calls.square, i) for i in range(200)))

    try:
        results = asyncio.run(main())
    finally:
        lane.close()
    assert results == [i * i for i in range(200)]
    assert calls.threads == {"packdesk-test-lane"}
    assert calls.counts == {i: 1 for i in range(200)}


def test_a_failing_call_fails_alone_and_nothing_runs_twice() -> None:
    calls = Calls()
    lane = WorkLane("test-lane")

    async def main() -> list[object]:
        return await asyncio.gather(
            *(lane.run(calls.square, i, fail_on=7) for i in range(50)), return_exceptions=True
        )

    try:
        results = asyncio.run(main())
    finally:
        lane.close()
    assert isinstance(results[7], ValueError) and "no square for 7" in str(results[7])
    assert [r for i, r in enumerate(results) if i != 7] == [i * i for i in range(50) if i != 7]
    assert calls.counts == {i: 1 for i in range(50)}  # the failure re-ran none of its batch


def test_disabled_lane_runs_each_call_in_a_worker_thread() -> None:
    calls = Calls()
    lane = WorkLane("test-lane", enabled=False)

    async def main() -> list[int]:
        return await asyncio.gather(*(lane.run(calls.square, i) for i in range(5)))

    assert asyncio.run(main()) == [0, 1, 4, 9, 16]
    assert threading.main_thread().name not in calls.threads


def test_close_finishes_queued_calls_then_refuses_new_ones() -> None:
    calls = Calls()
    lane = WorkLane("test-lane")

    async def main() -> tuple[list[int], BaseException | None]:
        queued = [asyncio.ensure_future(lane.run(calls.square, i)) for i in range(20)]
        await asyncio.sleep(0)  # every call is queued before the lane closes
        await lane.aclose()
        results = await asyncio.gather(*queued)
        try:
            await lane.run(calls.square, 99)
        except BatcherClosed as exc:
            return results, exc
        return results, None

    results, refused = asyncio.run(main())
    assert results == [i * i for i in range(20)]
    assert isinstance(refused, BatcherClosed)
    assert 99 not in calls.counts


def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    calls = Calls()
    lane = WorkLane("test-lane")

    async def main() -> list[int]:
        doomed = asyncio.ensure_future(lane.run(calls.square, 1000))
        others = [asyncio.ensure_future(lane.run(calls.square, i)) for i in range(10)]
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await asyncio.gather(*others)

    try:
        assert asyncio.run(main()) == [i * i for i in range(10)]
    finally:
        lane.close()
