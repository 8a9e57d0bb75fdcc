"""The browser session table, on the ledger's declarative ``Base`` (migration ``0008``).

A row is keyed by the SHA-256 of the session id, not the id itself: someone who can read the
database (a backup, a read replica) cannot take over a signed-in browser with what it finds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.ledger.models import Base, utcnow


class BrowserSession(Base):
    __tablename__ = "browser_sessions"
    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
