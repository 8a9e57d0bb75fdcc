"""Migrations are safe to run from several processes at once (issue 14, defect 9: three
processes starting on a fresh SQLite database, one failed with "database is locked")."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.core.ledger.conftest import PG_DATABASE, PG_HOST, PG_PORT, postgres_user

PROCESSES = 3
MIGRATE = textwrap.dedent(
    """
    import asyncio, sys
    from core.ledger.db import create_database
    from core.migrations import migrate
    from core.settings import Settings

    async def main() -> None:
        db = create_database(Settings(_env_prefix="PACKDESK_TEST_UNUSED_",
                                      data_dir=sys.argv[1], database_url=sys.argv[2]))
        try:
            await migrate(db)
        finally:
            await db.dispose()

    asyncio.run(main())
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database: no tables, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    user = await postgres_user()
    if user is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}")
    import asyncpg

    name = f"packdesk_migrate_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_migrations_on_a_fresh_database_all_succeed(
    fresh_database_url: str, tmp_path: Path
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, str(tmp_path / "data"), fresh_database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
    failures = [err for code, err in outcomes if code != 0]
    assert not failures, failures[0][-2000:]

    from sqlalchemy import text

    from core.ledger.db import create_database
    from core.migrations import MIGRATIONS_DIR
    from core.settings import Settings

    db = create_database(
        Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data",
                 database_url=fresh_database_url)
    )
    try:
        async with db.read() as session:
            versions = (await session.execute(text("SELECT version_num FROM alembic_version")))
            rows = versions.scalars().all()
    finally:
        await db.dispose()
    newest = sorted(p.name.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert rows == [newest[-1]]
