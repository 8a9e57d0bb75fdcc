"""A short-lived cache of access decisions (API keys, readable packs) read from the ledger.

Every ``POST /v1/ask`` needs the caller's key and the packs it may read. Both change rarely
(a purchase, a refund, an activation, a revoked key) but were read from the database on every
request, which under load cost more than the models. This cache keeps them per key for at most
``ttl_s`` seconds and is *fail-safe*: every committed ledger write transaction invalidates all
entries at once (:attr:`core.ledger.db.Database.access_generation`), unless the writer declared
that it touches no access rows (``db.write(changes_access=False)``, used only by the
conversation-turn write). A new write path therefore never serves a stale decision by accident;
at worst it makes the cache less effective.

Other *processes* sharing a PostgreSQL database (several workers, several nodes) invalidate it
through LISTEN/NOTIFY (:mod:`core.ledger.invalidation`): their writes move the same generation
within milliseconds of their commit. While that listener is disconnected
(``db.invalidation_live`` is False) nothing is served from the cache. ``ttl_s``
(``PACKDESK_ACCESS_CACHE_SECONDS``, 0 turns the cache off) stays the fallback bound: the
longest a decision can outlive a change nobody heard (a silent network cut not yet noticed,
or several processes on one SQLite file, which has no notifications).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from core.ledger.db import Database

V = TypeVar("V")

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    generation: int
    expires_at: float


class AccessCache(Generic[V]):
    """``key -> value`` for at most ``ttl_s`` seconds and only while the ledger is unchanged.

    Args:
        db: the database whose ``access_generation`` invalidates every entry when it moves.
        ttl_s: how long a value may be reused; ``0`` disables the cache (every get loads).
        max_entries: the least recently used entry is dropped beyond this many.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        db: Database,
        ttl_s: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        # One load per key and generation at a time: when an entry expires under load, the
        # concurrent requests for it share one read instead of each running the same queries.
        self._loading: dict[tuple[Hashable, int], asyncio.Task[V]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value of ``key``, or ``await load()`` (cached when nothing changed).

        Concurrent misses of one key share one ``load()``; its exception reaches each of them.
        A value loaded while a write committed is returned to its callers but not kept: it may
        predate the write.
        """
        if self.ttl_s <= 0 or not self._db.invalidation_live:
            return await load()
        generation = self._db.access_generation
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.generation == generation
            and entry.expires_at > self._clock()
        ):
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.value
        self.misses += 1
        flight = (key, generation)
        task = self._loading.get(flight)
        if task is None:
            task = asyncio.ensure_future(self._load(key, generation, load))
            self._loading[flight] = task
            task.add_done_callback(lambda _: self._loading.pop(flight, None))
        # Shielded: a caller that goes away does not cancel the load the others wait for.
        return await asyncio.shield(task)

    async def _load(self, key: Hashable, generation: int, load: Callable[[], Awaitable[V]]) -> V:
        value = await load()
        if self._db.access_generation == generation and self._db.invalidation_live:
            self._entries[key] = _Entry(value, generation, self._clock() + self.ttl_s)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
