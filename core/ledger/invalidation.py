"""Hear other processes' access changes: PostgreSQL LISTEN on :data:`core.ledger.db.ACCESS_CHANNEL`.

Every committed ledger write that may change access sends a notification inside its own
transaction (:meth:`core.ledger.db.Database.write`), so PostgreSQL delivers it exactly when the
change becomes visible, and never for a rolled-back write. Each server process keeps one
dedicated connection listening; a notification from another process moves
``db.access_generation``, which empties that process's access caches at once (key revocations,
refunds, cancellations, deactivations, approvals: milliseconds, far inside the 1 s goal).

A listener that is not connected cannot promise that: while it is down (PostgreSQL restarting,
a network cut), ``db.invalidation_live`` is False and the access caches read the database on
every request. A dead connection is noticed by asyncpg at once when it is closed, and within
``check_interval_s`` by a probe query otherwise (a silent network cut); until then the cache's
TTL (``PACKDESK_ACCESS_CACHE_SECONDS``) stays the upper bound of staleness. Reconnected, it
invalidates everything (notifications may have been missed) and tells its subscribers, which
reconcile what they keep (the served packs, :mod:`core.publishing.replication`).

Why PostgreSQL and not Redis pub/sub: the notification is part of the transaction that makes
the change, so there is no window between commit and publish in which a crash loses it, and
access stays correct when Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from core.ledger.db import ACCESS_CHANNEL

if TYPE_CHECKING:
    from core.ledger.db import Database

logger = logging.getLogger("packdesk.invalidation")

MAX_RECONNECT_DELAY_S = 2.0


class AccessChangeListener:
    """One LISTEN connection per process; calls ``subscribers`` on every change it hears.

    Args:
        db: a PostgreSQL database; its ``access_generation`` and ``invalidation_live`` are
            kept current.
        check_interval_s: how often an idle connection is probed (a silent cut is noticed
            within about this).
    """

    def __init__(self, db: Database, *, check_interval_s: float = 0.5) -> None:
        if db.is_sqlite:
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL; SQLite deployments run one process")
        self._db = db
        self._check_interval_s = check_interval_s
        self._subscribers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.notifications = 0

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on the event loop, must not block) after each change heard from
        another process, and after each reconnection."""
        self._subscribers.append(callback)

    async def start(self, *, wait_s: float = 5.0) -> None:
        """Start listening; wait up to ``wait_s`` for the first connection (not an error if it
        does not come: the caches read the database until it does)."""
        self._db.invalidation_live = False
        self._task = asyncio.create_task(self._run(), name="packdesk-access-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait_s)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        import asyncpg

        delay = 0.1
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(
                    **_connect_args(self._db), timeout=self._check_interval_s * 4
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(ACCESS_CHANNEL, self._heard)
                self._went_live()
                delay = 0.1
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self._check_interval_s)
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1", timeout=self._check_interval_s * 2)
                raise ConnectionError("the listening connection was closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: not live until connected again
                if self._db.invalidation_live:
                    logger.warning(
                        "access-change listener lost PostgreSQL (%s); access caches are off "
                        "until it is back", exc
                    )
                self._db.invalidation_live = False
                self._connected.clear()
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY_S)

    def _went_live(self) -> None:
        # Changes made while nobody listened were missed: start from nothing.
        self._db.access_generation += 1
        self._db.invalidation_live = True
        self._connected.set()
        logger.info("access-change listener connected")
        self._notify()

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        if payload == self._db.process_token:  # our own write moved the generation already
            return
        self._db.access_generation += 1
        self._notify()

    def _notify(self) -> None:
        for callback in self._subscribers:
            try:
                callback()
            except Exception:  # one subscriber's fault never stops the others
                logger.exception("access-change subscriber failed")


def _connect_args(db: Database) -> dict[str, Any]:
    """asyncpg's connect arguments for the database's SQLAlchemy URL."""
    url = make_url(db.settings.resolved_database_url())
    args: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }
    return {key: value for key, value in args.items() if value is not None}
