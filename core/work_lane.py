"""A work lane: blocking calls of the request path run in one worker thread, not one each.

``asyncio.to_thread`` hands every call to the default executor (up to six threads on two cores)
and wakes the event loop once per call. Under load those threads and the loop take the GIL
from each other at every hand-off, and a thread that wants it back may wait the interpreter's
switch interval (5 ms) each time: on a 2-core machine ``/v1/search`` served 202 requests a
second with its search in ``to_thread`` and 272 with the same search run on the event loop
itself (BENCHMARKS.md, "Load, issue 16, seventh round"). A lane keeps the loop free and the
hand-offs few: one thread takes every call queued at that moment, runs them in turn, and hands
their results back to each event loop in one wake-up (the delivery of
:class:`~core.batching.MicroBatcher`, whose worker the lane is).

Each call fails alone: an exception reaches its own caller, and the calls run with it neither
fail nor run again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from core.batching import BatchStats, MicroBatcher

R = TypeVar("R")

_Outcome = tuple[Any, BaseException | None]
# Calls taken in one turn of the worker: a bound on how long the first waits for the last.
MAX_CALLS_PER_TURN = 64


def _run_each(calls: list[Callable[[], Any]]) -> Sequence[_Outcome]:
    outcomes: list[_Outcome] = []
    for call in calls:
        try:
            outcomes.append((call(), None))
        except Exception as exc:  # noqa: BLE001 - handed to this call's caller only
            outcomes.append((None, exc))
    return outcomes


class WorkLane:
    """Runs blocking calls one after another in a worker thread; ``await lane.run(fn, ...)``.

    ``enabled=False`` runs each call in ``asyncio.to_thread`` instead (the behaviour with
    batching off, kept for comparison).
    """

    def __init__(self, name: str, *, enabled: bool = True) -> None:
        # No wait for company: a lane gains from fewer hand-offs, not from larger batches, so
        # it takes what is queued and starts at once.
        self._worker: MicroBatcher[Callable[[], Any], _Outcome] = MicroBatcher(
            _run_each, max_batch_size=MAX_CALLS_PER_TURN, max_wait_ms=0.0, enabled=enabled,
            name=name,
        )

    async def run(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """``fn(*args, **kwargs)`` in the lane's thread; its result, or its exception raised.

        Raises:
            BatcherClosed: the lane was closed (the server is shutting down).
        """
        result, error = await self._worker.submit(functools.partial(fn, *args, **kwargs))
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]

    def stats(self) -> BatchStats:
        """Counters since start: ``items`` calls run, in ``batches`` turns of the worker."""
        return self._worker.stats()

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish the calls already queued, then stop the thread (idempotent)."""
        self._worker.close(timeout)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await self._worker.aclose()


__all__ = ["WorkLane"]
