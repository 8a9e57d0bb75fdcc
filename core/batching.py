"""Micro-batching: concurrent single-item calls gathered into one call of a batch function.

A transformer forward over 16 short texts costs little more than over one on a CPU, so under
concurrent load the server answers far more requests per second when the requests waiting at
the same moment share one forward pass. :class:`MicroBatcher` does that for any function of
the shape ``batch_fn(items: list[T]) -> Sequence[R]`` (one result per item, same order):

* callers ``await batcher.submit(item)`` from async code (or call :meth:`MicroBatcher.call`
  from a thread) and get their own result back;
* one worker thread (never the event loop) takes the first waiting item, then gathers more for
  at most ``max_wait_ms`` or until ``max_batch_size`` items, and makes one call. Items that
  arrived while the previous batch was running are taken at once, without waiting; and after a
  batch of one item (a lone caller: nobody came during its wait) the next item does not wait
  for company either, so one client at a time pays nothing for batching, while the first
  concurrent items bring the wait back;
* the results of a batch reach each event loop in one hand-off (one ``call_soon_threadsafe``
  per loop and batch, not one per item): every wake-up of the loop from the worker is a
  system call after which the worker waits for the GIL again, up to the interpreter's switch
  interval (5 ms) while request threads run Python (under load, a batch's wall time per item
  went from 4.3 to 3.4 ms; docs/performance.md);
* when a batch raises, it is retried item by item, so a bad input fails only its own caller and
  an error of the function itself fails only the callers of that batch; the worker goes on;
* ``workers=N`` runs N such worker threads on the one queue: each takes what is waiting when
  it is free. With a model that releases the GIL while it computes (ONNX Runtime) a second
  worker runs a second pass on another core while the first computes;
* ``enabled=False`` makes :meth:`submit` a direct ``batch_fn([item])`` in a worker thread, the
  behaviour without batching, kept for comparison (``PACKDESK_BATCHING_ENABLED=false``);
* :meth:`close` finishes every item already submitted, then stops the worker; later submits
  raise :class:`~core.errors.BatcherClosed`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.errors import BatcherClosed, ConfigError

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchStats:
    """Counters since start: ``batches`` calls of the batch function for ``items`` items."""

    batches: int
    items: int
    largest: int
    failed_batches: int

    @property
    def mean_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


@dataclass
class _Pending(Generic[T, R]):
    """One submitted item and where its result goes: the asyncio future of the loop that
    submitted it (:meth:`MicroBatcher.submit`), or a concurrent future a thread blocks on
    (:meth:`MicroBatcher.call`)."""

    item: T
    future: asyncio.Future[R] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    sync_future: concurrent.futures.Future[R] | None = None

    def claim(self) -> bool:
        """False when the caller has gone (its task cancelled): the item is not computed.

        An asyncio future is read from the worker thread here: a stale answer only means an
        item is computed for nobody, and delivery checks again on the loop.
        """
        if self.sync_future is not None:
            return self.sync_future.set_running_or_notify_cancel()
        return self.future is not None and not self.future.cancelled()


_Outcome = tuple[_Pending[T, R], "R | None", "BaseException | None"]


def _settle(outcomes: list[_Outcome[T, R]]) -> None:
    """Resolve asyncio futures, on their loop's thread (callers gone meanwhile are skipped)."""
    for pending, result, error in outcomes:
        future = pending.future
        if future is None or future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]


_STOP = object()  # queued by close(): everything before it is still processed


class MicroBatcher(Generic[T, R]):
    """Gathers items submitted concurrently into calls of ``batch_fn``; thread-safe."""

    def __init__(
        self,
        batch_fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
        name: str = "batcher",
        workers: int = 1,
    ) -> None:
        """Args:
        batch_fn: called with 1..max_batch_size items; returns one result per item, in order.
        max_batch_size: the most items in one call.
        max_wait_ms: how long the worker waits, after the first item of a batch, for more.
            Items already waiting never wait (a busy model batches by itself).
        enabled: False: no worker; every submit is a direct call with one item.
        name: names the worker threads and log lines.
        workers: worker threads taking batches from the one queue (``batch_fn`` must then be
            safe to call from several threads at once).

        Raises:
            ConfigError: ``max_batch_size`` < 1, ``max_wait_ms`` < 0 or ``workers`` < 1.
        """
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or (
            max_batch_size < 1
        ):
            raise ConfigError(f"max_batch_size must be an integer >= 1, got {max_batch_size!r}")
        if not max_wait_ms >= 0:  # also rejects NaN
            raise ConfigError(f"max_wait_ms must be >= 0, got {max_wait_ms!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        self.batch_fn = batch_fn
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.enabled = enabled
        self.name = name
        self._queue: queue.SimpleQueue[_Pending[T, R] | object] = queue.SimpleQueue()
        # Held while checking ``_closed`` and queueing, so nothing is queued after _STOP.
        self._submit_lock = threading.Lock()
        self._closed = False
        self._stats_lock = threading.Lock()
        self._batches = self._items = self._largest = self._failed = 0
        self._threads: list[threading.Thread] = []
        if enabled:
            self._threads = [
                threading.Thread(
                    target=self._run,
                    name=f"packdesk-{name}" if workers == 1 else f"packdesk-{name}-{index}",
                    daemon=True,
                )
                for index in range(workers)
            ]
            for thread in self._threads:
                thread.start()

    # --- callers ---------------------------------------------------------------------------
    async def submit(self, item: T) -> R:
        """The result of ``batch_fn`` for ``item``, computed in a batch with concurrent items.

        Raises:
            BatcherClosed: the batcher was closed.
            Exception: whatever ``batch_fn`` raised for this item.
        """
        if not self.enabled:
            self._check_open()
            return await asyncio.to_thread(self._direct, item)
        # Cancelling the awaiting task cancels the future; the worker then skips the item.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._put(_Pending(item, future=future, loop=loop))
        return await future

    def call(self, item: T) -> R:
        """Blocking :meth:`submit`, for code running in a thread (never on the event loop)."""
        if not self.enabled:
            self._check_open()
            return self._direct(item)
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._put(_Pending(item, sync_future=future))
        return future.result()

    def stats(self) -> BatchStats:
        with self._stats_lock:
            return BatchStats(self._batches, self._items, self._largest, self._failed)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop accepting items, finish the ones already submitted, stop the worker (idempotent)."""
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:  # each worker stops at the first _STOP it takes
                self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s: worker still busy after %.0f s at close", self.name, timeout)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    # --- internals -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BatcherClosed(f"the {self.name} batcher is closed (the server is shutting down)")

    def _put(self, pending: _Pending[T, R]) -> None:
        with self._submit_lock:
            self._check_open()
            self._queue.put(pending)

    def _direct(self, item: T) -> R:
        results = self.batch_fn([item])
        self._record(1, failed=False)
        if len(results) != 1:
            raise ValueError(
                f"{self.name}: batch function returned {len(results)} results for 1 item"
            )
        return results[0]

    def _run(self) -> None:
        stop = False
        last_was_lone = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Pending[T, R]] = [first]  # type: ignore[list-item]
            deadline = time.monotonic() + (0.0 if last_was_lone else self.max_wait_s)
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else (
                        self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)  # type: ignore[arg-type]
            last_was_lone = len(batch) == 1
            self._process(batch)

    def _process(self, batch: list[_Pending[T, R]]) -> None:
        # A cancelled caller (client gone) needs no result: skip its item.
        live = [p for p in batch if p.claim()]
        if not live:
            return
        outcomes: list[_Outcome[T, R]]
        try:
            results = self._call_checked([p.item for p in live])
        except Exception as exc:  # noqa: BLE001 - handed to the callers, never lost
            self._record(len(live), failed=True)
            if len(live) == 1:
                self._deliver([(live[0], None, exc)])
                return
            log.warning("%s: a batch of %d failed (%s); retrying item by item", self.name,
                        len(live), exc)
            # One bad input must not fail the requests that happened to share its batch.
            outcomes = []
            for pending in live:
                try:
                    result = self._call_checked([pending.item])[0]
                except Exception as item_exc:  # noqa: BLE001
                    self._record(1, failed=True)
                    outcomes.append((pending, None, item_exc))
                else:
                    self._record(1, failed=False)
                    outcomes.append((pending, result, None))
            self._deliver(outcomes)
            return
        self._record(len(live), failed=False)
        self._deliver([(p, r, None) for p, r in zip(live, results, strict=True)])

    def _deliver(self, outcomes: list[_Outcome[T, R]]) -> None:
        """Hand the outcomes to their callers: blocking callers directly, each event loop's
        callers in one hop to that loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome[T, R]]] = {}
        for outcome in outcomes:
            pending, result, error = outcome
            if pending.sync_future is not None:
                if error is not None:
                    pending.sync_future.set_exception(error)
                else:
                    pending.sync_future.set_result(result)  # type: ignore[arg-type]
            elif pending.loop is not None:
                by_loop.setdefault(pending.loop, []).append(outcome)
        for loop, group in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, group)
            except RuntimeError:  # the loop has closed: its callers are gone
                log.debug("%s: %d results for a closed event loop dropped", self.name, len(group))

    def _call_checked(self, items: list[T]) -> Sequence[R]:
        results = self.batch_fn(items)
        if len(results) != len(items):
            raise ValueError(
                f"{self.name}: batch function returned {len(results)} results for "
                f"{len(items)} items"
            )
        return results

    def _record(self, size: int, *, failed: bool) -> None:
        with self._stats_lock:
            self._batches += 1
            self._items += size
            self._largest = max(self._largest, size)
            self._failed += int(failed)


__all__ = ["BatchStats", "MicroBatcher"]
