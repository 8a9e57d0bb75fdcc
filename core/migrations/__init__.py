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


async def migrate(db: Database) -> None:
    """Bring the schema to the newest Alembic revision (``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    async with db.engine.begin() as connection:

        def upgrade(sync_connection: Any) -> None:
            config.attributes["connection"] = sync_connection
            command.upgrade(config, "head")

        await connection.run_sync(upgrade)
