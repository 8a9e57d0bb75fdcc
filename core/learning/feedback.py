"""Feedback on answers and resolutions of handoffs: what conversations teach the intent model.

Both are about one stored turn of the caller's own conversations (another account's turn is
:class:`~core.errors.NotFound`, like one that does not exist). Free text (a comment, a note) is
redacted by the one :class:`~core.privacy.Redactor` and stored encrypted; the turn's question,
which becomes the training text, is already stored redacted. Both rows are deleted with their
turn (retention, ``DELETE /v1/me/data``) by the database's ``ON DELETE CASCADE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from core.conversations.models import Turn
from core.conversations.service import ConversationService, StoredTurn
from core.errors import NotFound, ValidationError
from core.intents.labels import OUT_OF_SCOPE
from core.learning.labels import LabelSpaceSource
from core.learning.models import HandoffResolution, TurnFeedback
from core.ledger.common import as_utc, insert_for, utcnow_
from core.ledger.db import Database
from core.privacy import Redactor, TextCipher

MAX_COMMENT_CHARS = 2000
MAX_OPEN_HANDOFFS = 200
MAX_TURN_ID = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL
ExampleKind = Literal["resolution", "correction", "confirmation"]


@dataclass(frozen=True)
class FeedbackRecord:
    """Stored feedback; ``comment`` is the redacted text that was stored."""

    turn_id: int
    conversation_id: str
    helpful: bool
    correct_intent: str | None
    comment: str | None
    created_at: datetime


@dataclass(frozen=True)
class ResolutionRecord:
    turn_id: int
    conversation_id: str
    intent: str
    note: str | None
    resolved_at: datetime


@dataclass(frozen=True)
class LabelledTurn:
    """A stored question and the label a person gave it, traceable to its turn."""

    turn_id: int
    account_id: str
    text: str  # the redacted question, decrypted
    label: str
    kind: ExampleKind
    at: datetime


@dataclass(frozen=True)
class UnlabelledTurn:
    """A stored question nobody labelled (self-training may pseudo-label it)."""

    turn_id: int
    account_id: str
    text: str  # the redacted question, decrypted


class FeedbackService:
    """Records feedback and handoff resolutions; lists open handoffs and labelled turns."""

    def __init__(
        self,
        db: Database,
        cipher: TextCipher,
        redactor: Redactor,
        conversations: ConversationService,
        labels: LabelSpaceSource,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.redactor = redactor
        self.conversations = conversations
        self.labels = labels

    async def give_feedback(
        self,
        account_id: str,
        conversation_id: str,
        turn_id: int,
        *,
        helpful: bool,
        correct_intent: str | None = None,
        comment: str | None = None,
        source: str = "customer",
    ) -> FeedbackRecord:
        """Store (or replace) the feedback on one turn of the caller's conversation.

        Raises:
            NotFound: no such turn in this account's conversation.
            ValidationError: an unusable intent label or an over-long comment.
        """
        if correct_intent is not None:
            correct_intent = self.labels().check(correct_intent)
        comment_text = await self._redacted(comment, "comment")
        token = self.cipher.encrypt(comment_text) if comment_text is not None else None
        now = utcnow_()
        values = {"account_id": account_id, "created_at": now, "helpful": helpful,
                  "correct_intent": correct_intent, "comment_token": token, "source": source}
        try:
            async with self.db.write(changes_access=False) as session:
                turn = await _owned_turn(session, account_id, turn_id, conversation_id)
                if turn is None:
                    raise NotFound(f"turn {turn_id} not found in conversation "
                                   f"{conversation_id!r}")
                insert = insert_for(session, TurnFeedback).values(turn_id=turn_id, **values)
                await session.execute(insert.on_conflict_do_update(
                    index_elements=["turn_id"], set_=values
                ))
        except IntegrityError as exc:  # the turn was deleted (retention, erasure) meanwhile
            raise NotFound(f"turn {turn_id} not found in conversation {conversation_id!r}") \
                from exc
        return FeedbackRecord(turn_id, conversation_id, helpful, correct_intent, comment_text,
                              now)

    async def resolve_handoff(
        self, account_id: str, turn_id: int, *, intent: str, note: str | None = None
    ) -> ResolutionRecord:
        """Record what a handed-off message really was (resolving again replaces it).

        Raises:
            NotFound: no handed-off turn ``turn_id`` of this account.
            ValidationError: an unusable intent label or an over-long note.
        """
        intent = self.labels().check(intent)
        note_text = await self._redacted(note, "note")
        token = self.cipher.encrypt(note_text) if note_text is not None else None
        now = utcnow_()
        values = {"account_id": account_id, "resolved_at": now, "intent": intent,
                  "note_token": token}
        try:
            async with self.db.write(changes_access=False) as session:
                turn = await _owned_turn(session, account_id, turn_id)
                if turn is None or not turn.handoff:
                    raise NotFound(f"handoff {turn_id} not found")
                conversation_id = turn.conversation_id
                insert = insert_for(session, HandoffResolution).values(turn_id=turn_id, **values)
                await session.execute(insert.on_conflict_do_update(
                    index_elements=["turn_id"], set_=values
                ))
        except IntegrityError as exc:
            raise NotFound(f"handoff {turn_id} not found") from exc
        return ResolutionRecord(turn_id, conversation_id, intent, note_text, now)

    async def open_handoffs(
        self, account_id: str, *, readable_pack_ids: Collection[str], limit: int = 50
    ) -> list[StoredTurn]:
        """The account's handed-off turns nobody has resolved yet, oldest first (a queue).

        Raises:
            ValidationError: ``limit`` outside 1..200.
        """
        if not 1 <= limit <= MAX_OPEN_HANDOFFS:
            raise ValidationError(f"limit must be between 1 and {MAX_OPEN_HANDOFFS}, "
                                  f"got {limit!r}")
        resolved = exists().where(HandoffResolution.turn_id == Turn.turn_id)
        async with self.db.read() as session:
            rows = (await session.execute(
                select(Turn)
                .where(Turn.account_id == account_id, Turn.handoff.is_(True), ~resolved)
                .order_by(Turn.created_at, Turn.turn_id)
                .limit(limit)
            )).scalars().all()
        return [self.conversations.read_turn(row, readable_pack_ids) for row in rows]

    async def labelled_turns(self) -> list[LabelledTurn]:
        """Every turn a person labelled: resolutions, corrections, confirmed intents.

        Feedback that says an answer helped confirms the turn's own intent; one that names a
        ``correct_intent`` corrects it; unhelpful feedback without one labels nothing.
        """
        async with self.db.read() as session:
            resolutions = (await session.execute(
                select(HandoffResolution.intent, HandoffResolution.resolved_at, Turn)
                .join(Turn, Turn.turn_id == HandoffResolution.turn_id)
            )).all()
            feedback = (await session.execute(
                select(TurnFeedback.helpful, TurnFeedback.correct_intent,
                       TurnFeedback.created_at, Turn)
                .join(Turn, Turn.turn_id == TurnFeedback.turn_id)
            )).all()
        labelled: list[LabelledTurn] = []
        for intent, at, turn in resolutions:
            labelled.append(self._labelled(turn, intent, "resolution", at))
        for helpful, correct, at, turn in feedback:
            if correct is not None:
                labelled.append(self._labelled(turn, correct, "correction", at))
            elif helpful and turn.intent_label != OUT_OF_SCOPE and not turn.out_of_scope:
                labelled.append(self._labelled(turn, turn.intent_label, "confirmation", at))
        return labelled

    async def unlabelled_turns(self, *, limit: int) -> list[UnlabelledTurn]:
        """The newest ``limit`` turns that have neither a resolution nor feedback, newest first
        (bounded: one retrain never reads more than ``limit`` turns)."""
        labelled = exists().where(HandoffResolution.turn_id == Turn.turn_id) | exists().where(
            TurnFeedback.turn_id == Turn.turn_id
        )
        async with self.db.read() as session:
            rows = (await session.execute(
                select(Turn.turn_id, Turn.account_id, Turn.question_token)
                .where(~labelled)
                .order_by(Turn.created_at.desc(), Turn.turn_id.desc())
                .limit(limit)
            )).all()
        return [UnlabelledTurn(turn_id, account_id, self.cipher.decrypt(token))
                for turn_id, account_id, token in rows]

    def _labelled(self, turn: Turn, label: str, kind: ExampleKind, at: Any) -> LabelledTurn:
        return LabelledTurn(
            turn_id=turn.turn_id,
            account_id=turn.account_id,
            text=self.cipher.decrypt(turn.question_token),
            label=label,
            kind=kind,
            at=as_utc(at),  # type: ignore[arg-type]
        )

    async def _redacted(self, text: str | None, what: str) -> str | None:
        if text is None or not text.strip():
            return None
        if len(text) > MAX_COMMENT_CHARS:
            raise ValidationError(f"{what} has {len(text)} characters; at most "
                                  f"{MAX_COMMENT_CHARS} are accepted")
        if "\x00" in text:
            raise ValidationError(f"{what} contains a NUL character")
        return (await asyncio.to_thread(self.redactor.redact, text.strip())).text


def turn_number(value: str) -> int:
    """A turn id from a URL path: a decimal number, else no such turn (404, like a missing one;
    the route stays a string so auth runs before the path is judged).

    Raises:
        NotFound: not a turn id.
    """
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        raise NotFound(f"turn {value[:40]!r} not found")
    return int(value)


async def _owned_turn(
    session: Any, account_id: str, turn_id: int, conversation_id: str | None = None
) -> Turn | None:
    if not 1 <= turn_id <= MAX_TURN_ID:  # no such row; and PostgreSQL would refuse the value
        return None
    query = select(Turn).where(Turn.turn_id == turn_id, Turn.account_id == account_id)
    if conversation_id is not None:
        query = query.where(Turn.conversation_id == conversation_id)
    return (await session.execute(query)).scalar_one_or_none()
