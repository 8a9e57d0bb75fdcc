"""Alembic environment: always run programmatically by :func:`core.migrations.migrate`."""

from __future__ import annotations

from alembic import context

import core.conversations.models  # noqa: F401  (registers the conversation tables on Base)
import core.learning.models  # noqa: F401  (feedback, resolutions, intent model versions)
import core.ledger.shared_files  # noqa: F401  (the shared store's tables, migration 0009)
from core.ledger.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI path is not used
    raise RuntimeError("run migrations through core.migrations.migrate(db)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
