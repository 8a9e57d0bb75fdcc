"""A hung or locked PostgreSQL costs a request seconds, never a worker forever.

The connection and every statement have a limit (``PACKDESK_DATABASE_CONNECT_TIMEOUT_SECONDS``,
``PACKDESK_DATABASE_STATEMENT_TIMEOUT_SECONDS``); what hits one is a dependency outage (503 with
``Retry-After``, api/errors.py), and migrations, which may wait for another process's upgrade,
run without the statement limit.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from api.errors import is_dependency_outage
from core.ledger.db import create_database, postgres_connect_args
from core.migrations import MIGRATION_LOCK_KEY, migrate
from core.settings import Settings
from tests.core.ledger.conftest import (
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    postgres_database,
    postgres_user,
    throwaway_postgres_database,
)


def test_connect_args_carry_both_limits_and_zero_turns_the_statement_limit_off(
    settings: Settings,
) -> None:
    settings.database_connect_timeout_seconds = 2.5
    settings.database_statement_timeout_seconds = 0.75
    assert postgres_connect_args(settings) == {
        "timeout": 2.5, "server_settings": {"statement_timeout": "750"}
    }
    settings.database_statement_timeout_seconds = 0
    assert postgres_connect_args(settings) == {"timeout": 2.5}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a hung database server."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        for sock in accepted:
            sock.close()
        listener.close()


async def test_a_server_that_never_answers_is_an_outage_within_the_connect_timeout(
    settings: Settings, silent_server: int
) -> None:
    settings.database_url = f"postgresql+asyncpg://nobody@127.0.0.1:{silent_server}/packdesk"
    settings.database_connect_timeout_seconds = 0.5
    db = create_database(settings)
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as raised:
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await db.dispose()
    assert time.monotonic() - started < 3
    assert is_dependency_outage(raised.value)


async def _hold(statement: str, seconds: float, holding: asyncio.Event) -> None:
    """Run ``statement`` in a transaction of another session and keep it open ``seconds``."""
    import asyncpg

    user = await postgres_user()
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database=DB_NAME[0])
    try:
        async with connection.transaction():
            await connection.execute(statement)
            holding.set()
            await asyncio.sleep(seconds)
    finally:
        await connection.close()


DB_NAME = [PG_DATABASE]  # the database _hold connects to: the test's own


@pytest.mark.postgres
async def test_a_statement_waiting_on_a_lock_is_cancelled_at_the_limit_as_an_outage(
    settings: Settings,
) -> None:
    settings.database_statement_timeout_seconds = 0.5
    async with postgres_database(settings) as db:
        DB_NAME[0] = db.engine.url.database or PG_DATABASE
        holding = asyncio.Event()
        holder = asyncio.create_task(
            _hold("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE", 3.0, holding)
        )
        await holding.wait()
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT count(*) FROM api_keys"))
        waited = time.monotonic() - started
        await holder
        assert 0.4 < waited < 2.5, waited
        assert is_dependency_outage(raised.value)
        # The lock gone, the same statement answers at once.
        async with db.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM api_keys"))).scalar() == 0


@pytest.mark.postgres
def test_migrations_wait_for_another_upgrade_longer_than_the_statement_limit(
    settings: Settings,
) -> None:
    from core.migrations import schema_at_head

    settings.database_statement_timeout_seconds = 0.3
    with throwaway_postgres_database("packdesk_migrate") as url:
        settings.database_url = url
        DB_NAME[0] = url.rsplit("/", 1)[1]

        async def upgrade_while_another_process_holds_the_lock() -> float:
            db = create_database(settings)
            try:
                holding = asyncio.Event()
                holder = asyncio.create_task(  # another process upgrading, for 1.2 s
                    _hold(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})", 1.2, holding)
                )
                await holding.wait()
                started = time.monotonic()
                await migrate(db)
                waited = time.monotonic() - started
                await holder
                assert await schema_at_head(db)
                return waited
            finally:
                await db.dispose()

        assert asyncio.run(upgrade_while_another_process_holds_the_lock()) > 1.0
