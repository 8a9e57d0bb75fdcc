"""Conversation tables, on the ledger's declarative ``Base`` (migration ``0002``).

Question and answer text are stored only as Fernet tokens of the *redacted* text
(``question_token``, ``answer_token``); everything else in a turn is metadata (intent,
citations of pack documents, sentiment score, handoff flag) that carries no customer text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.ledger.models import Base, utcnow


class Conversation(Base):
    __tablename__ = "conversations"
    conversation_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped by every new turn (which also locks the row): retention deletes a conversation only
    # when its newest turn expired, so a purge never races a turn being added to it.
    last_turn_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class Turn(Base):
    __tablename__ = "conversation_turns"
    __table_args__ = (
        # GET /v1/handoffs: one account's flagged turns, newest first.
        Index("ix_conversation_turns_handoffs", "account_id", "handoff", "created_at"),
    )
    turn_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.conversation_id", ondelete="CASCADE"), index=True
    )
    # Denormalised from the conversation so deletion and the handoff list need no join.
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    question_token: Mapped[str] = mapped_column(Text)  # Fernet token of the redacted question
    answer_token: Mapped[str] = mapped_column(Text)  # Fernet token of the redacted answer
    intent_label: Mapped[str] = mapped_column(String(160))
    intent_confidence: Mapped[float] = mapped_column(Float)
    out_of_scope: Mapped[bool] = mapped_column(Boolean, default=False)  # answered "can't help"
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sentiment_compound: Mapped[float] = mapped_column(Float)
    sentiment_label: Mapped[str] = mapped_column(String(10))
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class DataDeletion(Base):
    """When an account last deleted its conversation data (``DELETE /v1/me/data``).

    A turn whose question was asked before that moment, but whose write comes after it (it was
    being answered while the deletion ran), is dropped instead of stored.
    """

    __tablename__ = "conversation_deletions"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
