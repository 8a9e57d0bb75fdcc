"""Alembic environment: always run programmatically by :func:`core.migrations.migrate`."""

from __future__ import annotations

from alembic import context

from core.migrations import schema_metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI path is not used
    raise RuntimeError("run migrations through core.migrations.migrate(db)")

context.configure(
    connection=connection,
    target_metadata=schema_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
