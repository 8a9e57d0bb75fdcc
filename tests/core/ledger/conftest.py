"""Ledger fixtures: every test runs on SQLite and on PostgreSQL, each in a fresh database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest

from core.ledger.accounts import AccountService
from core.ledger.catalog import CatalogService
from core.ledger.db import Database, create_database
from core.ledger.models import CheckoutOrder
from core.migrations import migrate
from core.packs.manifest import Manifest
from core.settings import Settings

PG_HOST = os.environ.get("PACKDESK_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PACKDESK_TEST_PG_PORT", "5432"))
PG_DATABASE = "test"
_pg_user: str | None = None
_pg_probe_error: str | None = None


async def _probe_postgres() -> str | None:
    """The first user that can connect (trust auth); None when no server answers."""
    global _pg_probe_error
    import asyncpg

    for user in ("postgres", "root", os.environ.get("USER", "postgres")):
        try:
            conn = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE, timeout=3
            )
        except Exception as exc:  # refused, unknown role, timeout: try the next or give up
            _pg_probe_error = f"{type(exc).__name__}: {exc}"
            continue
        await conn.close()
        return user
    return None


async def postgres_user() -> str | None:
    global _pg_user
    if _pg_user is None and _pg_probe_error is None:
        _pg_user = await _probe_postgres()
    return _pg_user


@contextmanager
def throwaway_postgres_database(prefix: str, *, skip_reason: str = "") -> Iterator[str]:
    """A fresh, empty PostgreSQL database (its SQLAlchemy URL), dropped afterwards; skips the
    calling test or fixture when no PostgreSQL answers at PACKDESK_TEST_PG_HOST:PORT."""
    import asyncio

    import asyncpg

    user = asyncio.run(postgres_user())
    if user is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}{skip_reason}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared explicit settings, with the local test-mode billing provider chosen (as an
    operator must: it is never a fallback)."""
    settings.billing_provider = "local"
    return settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Database]:
    """A migrated ledger database: SQLite in the test's data dir, or a fresh PostgreSQL DB."""
    if request.param == "sqlite":
        database = create_database(settings)
        await migrate(database)
        yield database
        await database.dispose()
        return
    async with postgres_database(settings) as database:
        yield database


@pytest.fixture
async def postgres_db(settings: Settings) -> AsyncIterator[Database]:
    """A migrated ledger database on PostgreSQL only (skipped when no server answers)."""
    async with postgres_database(settings) as database:
        yield database


@asynccontextmanager
async def postgres_database(settings: Settings) -> AsyncIterator[Database]:
    """A fresh, migrated PostgreSQL database for one test, dropped after it."""
    user = await postgres_user()
    if user is None:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} (database {PG_DATABASE!r}, "
            f"users postgres/root): {_pg_probe_error}"
        )
    import asyncpg

    name = f"packdesk_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    settings.database_url = f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    database = create_database(settings)
    try:
        await migrate(database)
        yield database
    finally:
        await database.dispose()
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def make_manifest(
    pack_id: str = "finance",
    version: str = "1.0.0",
    *,
    model: str = "one_time",
    amount: int = 1500,
    publisher: str = "Acme",
) -> Manifest:
    return Manifest.model_validate(
        {
            "id": pack_id,
            "name": pack_id.title(),
            "version": version,
            "domain": "finance",
            "description": f"{pack_id} pack",
            "publisher": publisher,
            "license": "CC0-1.0",
            "attribution": "test data",
            "pricing": {"model": model, "amount": 0 if model == "free" else amount},
            "embedding_model": {"id": "all-MiniLM-L6-v2", "dimension": 384},
        }
    )


@pytest.fixture
async def accounts(db: Database) -> AccountService:
    return AccountService(db)


@pytest.fixture
async def catalog(db: Database) -> CatalogService:
    """A catalog with built-in packs: free ``basics``, one-time ``finance``, monthly ``medical``."""
    service = CatalogService(db)
    await service.register_builtin(make_manifest("basics", model="free"))
    await service.register_builtin(make_manifest("finance", amount=1500))
    await service.register_builtin(make_manifest("medical", model="monthly", amount=900))
    return service


# (pricing model, amount) of the paid packs in the ``catalog`` fixture.
CATALOG_PRICES = {"finance": ("one_time", 1500), "medical": ("monthly", 900)}


async def open_order(
    db: Database,
    account_id: str,
    pack_id: str,
    *,
    session_id: str,
    provider: str = "local",
    **columns: object,
) -> None:
    """The order ``BillingService.start_checkout`` stores when it opens a checkout; a completed
    checkout grants only against it."""
    model, amount = CATALOG_PRICES[pack_id]
    values = {
        "session_id": session_id,
        "provider": provider,
        "account_id": account_id,
        "pack_id": pack_id,
        "version": "1.0.0",
        "pricing_model": model,
        "amount": amount,
        "currency": "usd",
        "status": "open",
        **columns,
    }
    async with db.write() as session:
        session.add(CheckoutOrder(**values))
