"""The migrations build exactly the tables the models declare (0003: billing_objects and
checkout_orders.price_ref), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from core.ledger.db import Database


async def test_migrations_match_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.migrations import schema_metadata

    metadata = schema_metadata()
    # Every table of the migrations is declared by a model module: nothing is left unchecked.
    assert {"browser_sessions", "visitor_questions", "earnings", "shared_files",
            "intent_model_versions"} <= set(metadata.tables)

    def diff(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_migrations_go_down_and_up_again(db: Database) -> None:
    from alembic import command
    from alembic.config import Config

    from core.migrations import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    def run(connection: Any, target: str, down: bool) -> None:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)

    async with db.engine.begin() as connection:
        await connection.run_sync(run, "0002", True)
        await connection.run_sync(run, "head", False)


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from core.migrations import HEAD_REVISION, MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


async def test_a_schema_at_head_is_not_upgraded_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command

    from core.migrations import migrate, schema_at_head

    assert await schema_at_head(db)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("upgrade ran on a schema at head")

    monkeypatch.setattr(command, "upgrade", refuse)
    await migrate(db)  # no upgrade: the version table already says head


async def test_an_empty_or_older_schema_is_not_at_head(db: Database) -> None:
    from sqlalchemy import text

    from core.migrations import schema_at_head

    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    assert not await schema_at_head(db)
    async with db.engine.begin() as connection:
        await connection.execute(text("DROP TABLE alembic_version"))
    assert not await schema_at_head(db)  # no table: the upgrade path, not an error
