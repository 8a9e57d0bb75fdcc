"""The schema of the one database: Alembic migrations for every package's tables.

It sits above the packages that own tables (ledger, conversations) because its environment
imports all their models; they know nothing of it. Run programmatically, never by the
``alembic`` CLI: :func:`migrate` on a :class:`~core.ledger.db.Database`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.ledger.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent
# The newest revision in versions/ (a test holds it to Alembic's own head): a schema already
# there needs no upgrade, and every server start can see that without importing Alembic.
HEAD_REVISION = "0009"
# Any fixed 64-bit number, the same in every process: the key of PostgreSQL's advisory lock.
MIGRATION_LOCK_KEY = 0x7061636B6465736B  # "packdesk"


# Every module that declares tables on the one declarative Base: the schema the migrations
# build is exactly theirs (tests/core/ledger/test_migrations.py compares the two).
MODEL_MODULES = (
    "core.ledger.models",
    "core.ledger.shared_files",
    "core.conversations.models",
    "core.browser_sessions.models",
    "core.learning.models",
    "core.visitors.models",
)


def schema_metadata() -> Any:
    """The ``MetaData`` of every table of :data:`MODEL_MODULES` (imports them)."""
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)
    from core.ledger.models import Base

    return Base.metadata


async def migrate(db: Database) -> None:
    """Bring the schema to the newest Alembic revision (``upgrade head``).

    Safe to call from several processes at once (every server process does at start-up): the
    upgrade runs in one transaction that first takes a lock the others wait for, an advisory
    transaction lock on PostgreSQL, SQLite's write lock (``BEGIN IMMEDIATE``) on SQLite. The
    first process upgrades; the others then find the schema at head and do nothing.
    """
    if await schema_at_head(db):
        return
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # On SQLite a write-flagged transaction begins IMMEDIATE (core.ledger.db).
    engine = db.engine.execution_options(packdesk_write=True) if db.is_sqlite else db.engine
    async with engine.begin() as connection:
        if not db.is_sqlite:
            # Waiting for another process's upgrade, and an upgrade itself, may take longer
            # than any request should (PACKDESK_DATABASE_STATEMENT_TIMEOUT_SECONDS).
            await connection.execute(text("SET LOCAL statement_timeout = 0"))
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )

        def upgrade(sync_connection: Any) -> None:
            config.attributes["connection"] = sync_connection
            command.upgrade(config, "head")

        await connection.run_sync(upgrade)


async def schema_at_head(db: Database) -> bool:
    """Whether the schema is already at :data:`HEAD_REVISION`: one read of Alembic's version
    table, without importing Alembic and its scripts (a quarter of a second of a server start
    on the 2-core machine). No table, another revision, or any database error: False, and
    :func:`migrate` takes its locked path, which reports real errors."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        async with db.engine.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            versions = list(result.scalars())
    except DBAPIError:
        return False
    return versions == [HEAD_REVISION]
