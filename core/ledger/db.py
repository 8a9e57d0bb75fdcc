"""The ledger database: an async SQLAlchemy engine, its sessions and programmatic migrations.

SQLite (aiosqlite, WAL) is the embedded default; PostgreSQL (asyncpg) serves deployments with
several processes. SQLAlchemy is imported here, not at ``import core`` time.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.errors import ConfigError
from core.settings import Settings

SQLITE_BUSY_TIMEOUT_S = 30.0
# The PostgreSQL notification channel of committed writes that may change access.
ACCESS_CHANNEL = "packdesk_access"


class Database:
    """An async engine plus session factories for reads and for writes.

    ``write()`` opens a transaction that takes the write lock at once on SQLite
    (``BEGIN IMMEDIATE``); a deferred transaction that reads first and writes later could fail
    with "database is locked" under concurrent writers instead of waiting its turn.

    ``access_generation`` counts this process's committed writes that may change who may read
    what, and (on PostgreSQL, through :mod:`core.ledger.invalidation`) other processes' ones;
    :class:`core.ledger.access_cache.AccessCache` entries from an older generation are stale.
    ``invalidation_live`` is False while other processes' writes may go unheard (the listener
    lost its connection): the access caches then read the database every time.
    """

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.dialect = engine.dialect.name
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        writer = engine.execution_options(packdesk_write=True) if self.is_sqlite else engine
        self._writers = async_sessionmaker(writer, expire_on_commit=False)
        self.access_generation = 0
        self.invalidation_live = True
        # Names this process's notifications, so its own listener does not count them twice.
        self.process_token = uuid.uuid4().hex
        # SQLite has one writer at a time. Writers of this process queue here, first come first
        # served, instead of in SQLite's busy handler, which retries with growing sleeps and
        # let unlucky writers wait seconds under load (p99). Other processes still meet the
        # busy timeout.
        self._write_turn = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; rolled back at the end."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self, *, changes_access: bool = True) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.

        Args:
            changes_access: False only for a writer that provably touches no row an access
                decision reads (keys, accounts, entitlements, activations, the catalog). After
                every other commit the access caches are invalidated, so forgetting the flag
                costs cache hits, never correctness.
        """
        queue = self._write_turn or contextlib.nullcontext()
        try:
            async with queue, self._writers() as session, session.begin():
                yield session
                if changes_access and not self.is_sqlite:
                    # Delivered by PostgreSQL at commit, and only if it commits: every other
                    # process drops its access caches as soon as the change is visible.
                    await session.execute(
                        text("SELECT pg_notify(:channel, :token)"),
                        {"channel": ACCESS_CHANNEL, "token": self.process_token},
                    )
        finally:
            # Also after a failed commit: whether it reached the database is unknown.
            if changes_access:
                self.access_generation += 1

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_database(settings: Settings) -> Database:
    """Build the engine for ``settings.resolved_database_url()`` (SQLite file or PostgreSQL).

    Raises:
        ConfigError: the URL names an unsupported driver.
    """
    url = make_url(settings.resolved_database_url())
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername != "sqlite+aiosqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _configure_sqlite(engine)
    elif backend == "postgresql":
        if url.drivername != "postgresql+asyncpg":
            url = url.set(drivername="postgresql+asyncpg")
        engine = create_async_engine(
            url, pool_pre_ping=True, connect_args=postgres_connect_args(settings)
        )
    else:
        raise ConfigError(
            f"database_url {url.render_as_string(hide_password=True)!r} is not supported; "
            "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://..."
        )
    return Database(engine, settings)


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments: the connect timeout, and the server-side
    ``statement_timeout`` every session starts with (the server cancels a statement that runs
    or waits for a lock longer; the error is a 503, api/errors.py)."""
    args: dict[str, Any] = {"timeout": settings.database_connect_timeout_seconds}
    if settings.database_statement_timeout_seconds > 0:
        milliseconds = max(1, round(settings.database_statement_timeout_seconds * 1000))
        args["server_settings"] = {"statement_timeout": str(milliseconds)}
    return args


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) emit BEGIN, so writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("packdesk_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
