"""Small helpers every ledger service shares: UTC handling, dialect-aware inserts, audit rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.ledger.models import AuditEntry, utcnow

utcnow_ = utcnow


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC, so say so."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` on the session's dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if dialect_name(session) == "postgresql" else sqlite
    return dialect.insert(table)


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def audit(
    session: AsyncSession,
    action: str,
    *,
    account_id: str | None = None,
    pack_id: str | None = None,
    **detail: Any,
) -> None:
    """Append one audit row in the caller's transaction (so it commits with the change)."""
    session.add(AuditEntry(action=action, account_id=account_id, pack_id=pack_id, detail=detail))
