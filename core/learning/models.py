"""Learning tables, on the ledger's declarative ``Base`` (migration ``0007``).

Feedback and handoff resolutions point at a stored turn and are deleted with it (``ON DELETE
CASCADE``): retention and ``DELETE /v1/me/data`` delete turns, so they delete what was learned
from them too. Their free text (a feedback comment, an agent's note) is stored only as a Fernet
token of the *redacted* text, like the turns themselves.

Intent model versions keep their files in the database, in chunks, so that every node can fetch
the version the current-version pointer names; the pointer is the newest row of
``intent_model_promotions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.ledger.models import Base, utcnow

LABEL_LENGTH = 160  # the same bound as conversation_turns.intent_label
VERSION_ID_LENGTH = 64


class TurnFeedback(Base):
    """What the asker said about one answer: helpful or not, and optionally the right intent."""

    __tablename__ = "turn_feedback"
    feedback_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # One feedback per turn: a second one replaces the first.
    turn_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_turns.turn_id", ondelete="CASCADE"), unique=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    helpful: Mapped[bool] = mapped_column(Boolean)
    correct_intent: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), nullable=True)
    comment_token: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted, encrypted
    source: Mapped[str] = mapped_column(String(20), default="customer")  # customer | visitor


class HandoffResolution(Base):
    """A person's verdict on a handed-off turn: what the message really was."""

    __tablename__ = "handoff_resolutions"
    resolution_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_turns.turn_id", ondelete="CASCADE"), unique=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    intent: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    note_token: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted, encrypted


class IntentModelVersion(Base):
    """One trained intent model: how it was trained, on what, and what it measured."""

    __tablename__ = "intent_model_versions"
    version_id: Mapped[str] = mapped_column(String(VERSION_ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    parent_version_id: Mapped[str | None] = mapped_column(
        String(VERSION_ID_LENGTH), nullable=True
    )
    status: Mapped[str] = mapped_column(String(20))  # registered | candidate | rejected
    training_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_sha256: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    gate: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    labels: Mapped[list[str]] = mapped_column(JSON)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{path, sha256, size}]


class IntentModelChunk(Base):
    """A piece of one file of a version (files are split so no value is huge)."""

    __tablename__ = "intent_model_chunks"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("intent_model_versions.version_id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class IntentModelPromotion(Base):
    """The current-version pointer's history: the newest row names the serving version."""

    __tablename__ = "intent_model_promotions"
    promotion_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("intent_model_versions.version_id"), index=True
    )
    previous_version_id: Mapped[str | None] = mapped_column(
        String(VERSION_ID_LENGTH), nullable=True
    )
    action: Mapped[str] = mapped_column(String(20))  # promote | rollback
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # who: "cli", "retrain", "prepare"
