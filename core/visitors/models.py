"""Widget keys and visitor questions, on the ledger's declarative ``Base`` (migration ``0008``).

A visitor question row is metadata (intent, handoff, the pack it needed) plus, only when it
needed a pack the business does not own, the Fernet token of the *redacted* question: the few
examples the business sees next to the missed-demand count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.ledger.models import Base, utcnow


class WidgetKey(Base):
    """A publishable key (``pk_...``): public by design (it sits in the business's web page),
    so it is stored as is; what protects it is its scope (ask only) and its allowed origins."""

    __tablename__ = "widget_keys"
    widget_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class VisitorQuestion(Base):
    __tablename__ = "visitor_questions"
    __table_args__ = (Index("ix_visitor_questions_account_at", "account_id", "asked_at"),)
    question_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"))
    widget_key: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    intent_label: Mapped[str] = mapped_column(String(160))
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    # The pack the question needed and the business does not own (or has not activated).
    missed_pack_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    example_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The stored conversation, and the SHA-256 of the visitor token the widget keeps in the
    # page's storage: a visitor continues only a conversation it started (same key and token).
    conversation_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    visitor_hash: Mapped[str] = mapped_column(String(64))
