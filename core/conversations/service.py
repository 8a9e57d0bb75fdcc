"""Stored conversations: record turns, read history and handoffs, delete, expire, re-encrypt.

Only redacted text reaches the database: a :class:`NewTurn` holds
:class:`~core.privacy.RedactionResult` values, which only the
:class:`~core.privacy.Redactor` makes, so a caller cannot hand raw text to storage by mistake,
and nothing here redacts a second time. The ``question_token``/``answer_token`` columns hold
Fernet tokens (:class:`~core.privacy.TextCipher`) of that text, never plaintext.

Every write here touches only the conversation tables (and the audit log), never a row an access
decision reads, so it opens its transaction with ``changes_access=False`` and leaves the access
cache (core.ledger.access_cache) warm.

A conversation belongs to one account. Asking for a conversation of another account gives the
same :class:`~core.errors.NotFound` as asking for one that does not exist, so ids do not leak.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.conversations.models import Conversation, Turn
from core.conversations.repository import ConversationRepository
from core.errors import NotFound, ValidationError
from core.ledger.common import as_utc, audit, utcnow_
from core.privacy import RedactionResult, TextCipher
from core.retrieval.citation import Citation

if TYPE_CHECKING:
    from core.ledger.db import Database

logger = logging.getLogger("packdesk.conversations")

CONTEXT_TURNS = 5  # earlier turns handed to the assistant; the handoff rule needs only the last
MAX_HANDOFFS = 200
ROTATION_BATCH = 500
TURNS_PER_COMMIT = 64  # group commit: most turns written by one transaction
WITHHELD_ANSWER = (
    "[This answer quoted a knowledge pack that is no longer part of your plan, so it is not "
    "shown.]"
)


@dataclass(frozen=True)
class NewTurn:
    """One exchange to store: the redacted question and answer and what was decided."""

    question: RedactionResult
    answer: RedactionResult
    intent_label: str
    intent_confidence: float
    sentiment_compound: float
    sentiment_label: str
    out_of_scope: bool = False
    handoff: bool = False
    handoff_reason: str | None = None
    citations: list[Citation] = field(default_factory=list)
    # When the question came in: a turn asked before the account deleted its data is dropped.
    asked_at: datetime = field(default_factory=utcnow_)


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What the assistant needs to know about an earlier turn of the same conversation."""

    intent_label: str
    intent_confidence: float
    out_of_scope: bool


@dataclass(frozen=True)
class _QueuedTurn:
    """A sealed turn waiting for the group commit, and the future its caller awaits."""

    account_id: str
    conversation_id: str | None
    question_token: str  # the redacted question, encrypted
    answer_token: str
    turn: NewTurn
    done: asyncio.Future[StoredTurn | None]


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: no "never retrieved" log for a gone caller


@dataclass(frozen=True)
class StoredTurn:
    """A stored turn, decrypted: the text is the redacted text that was stored."""

    turn_id: int
    conversation_id: str
    created_at: datetime
    question: str
    answer: str
    intent_label: str
    intent_confidence: float
    out_of_scope: bool
    citations: list[Citation]
    sentiment_compound: float
    sentiment_label: str
    handoff: bool
    handoff_reason: str | None


@dataclass(frozen=True)
class ConversationHistory:
    conversation_id: str
    created_at: datetime
    turns: list[StoredTurn]


@dataclass(frozen=True)
class DeletedData:
    """What ``DELETE /v1/me/data`` removed."""

    conversations: int
    turns: int


def new_conversation_id() -> str:
    return f"conv_{secrets.token_hex(12)}"


class ConversationService:
    """Stores redacted, encrypted conversation turns per account.

    Args:
        db: the ledger database (the conversation tables are in its migrations).
        cipher: encrypts stored text (``load_conversation_cipher(settings)``).
        retention_days: turns older than this are deleted by :meth:`purge_expired`.
    """

    def __init__(
        self, db: Database, cipher: TextCipher, *, retention_days: int
    ) -> None:
        if retention_days < 1:
            raise ValidationError(f"retention_days must be >= 1, got {retention_days!r}")
        self.db = db
        self.cipher = cipher
        self.retention = timedelta(days=retention_days)
        self._queue: list[_QueuedTurn] = []
        self._committer: asyncio.Task[None] | None = None

    async def recent_turns(self, account_id: str, conversation_id: str) -> list[TurnContext]:
        """The last turns of the caller's conversation, oldest first (context for handoff).

        One query: the turns are selected by conversation *and* account, and a conversation
        always has a turn (retention deletes a conversation with its last turn), so no turns
        means not this account's conversation.

        Raises:
            NotFound: no such conversation for this account (also when another account owns it).
        """
        async with self.db.read() as session:
            turns = await ConversationRepository(session).last_turns(
                account_id, conversation_id, CONTEXT_TURNS
            )
        if not turns:
            raise _not_found(conversation_id)
        return [TurnContext(t.intent_label, t.intent_confidence, t.out_of_scope) for t in turns]

    async def record_turn(
        self, account_id: str, conversation_id: str | None, turn: NewTurn
    ) -> StoredTurn | None:
        """Store one turn, in a new conversation when ``conversation_id`` is None.

        Returns:
            The stored turn (the redacted text it was given, not read back) with its ids; None
            when the account deleted its data after the question was asked (the turn was being
            answered while the deletion ran): it is dropped, not stored.
        Raises:
            NotFound: ``conversation_id`` is not one of this account's conversations (it may
                also have just expired or been deleted).
        """
        # Fernet on a few kilobytes takes microseconds: cheaper than a hop to a worker thread.
        queued = _QueuedTurn(
            account_id,
            conversation_id,
            self.cipher.encrypt(turn.question.text),
            self.cipher.encrypt(turn.answer.text),
            turn,
            asyncio.get_running_loop().create_future(),
        )
        queued.done.add_done_callback(_retrieve_exception)  # a caller may have gone away
        self._queue.append(queued)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queue(), name="packdesk-turns")
        # Shielded: a caller that disconnects does not withdraw its turn from the batch.
        return await asyncio.shield(queued.done)

    async def drain(self) -> None:
        """Wait until every turn handed to :meth:`record_turn` is committed (shutdown)."""
        while self._committer is not None and not self._committer.done():
            await asyncio.wait({self._committer})

    async def _commit_queue(self) -> None:
        """Group commit: the turns that queued while the last transaction ran go in one.

        SQLite has one writer at a time and every transaction costs several hand-offs to the
        driver's thread, so one transaction per turn capped the server's throughput (measured:
        57 req/s at 32 concurrent asks against 94 without the write). An error of one turn
        fails only its caller: the batch is retried turn by turn.
        """
        while self._queue:
            batch = self._queue[:TURNS_PER_COMMIT]
            del self._queue[:TURNS_PER_COMMIT]
            outcomes: list[StoredTurn | Exception | None]
            try:
                outcomes = list(await self._store(batch))
            except Exception:
                logger.warning("a batch of %d turns failed; storing them one by one", len(batch),
                               exc_info=True)
                outcomes = []
                for queued in batch:
                    try:
                        outcomes.extend(await self._store([queued]))
                    except Exception as exc:  # this turn's own failure, for its caller
                        outcomes.append(exc)
            for queued, outcome in zip(batch, outcomes, strict=True):
                if queued.done.done():
                    continue
                if isinstance(outcome, BaseException):
                    queued.done.set_exception(outcome)
                else:
                    queued.done.set_result(outcome)

    async def _store(self, batch: list[_QueuedTurn]) -> list[StoredTurn | NotFound | None]:
        """Store ``batch`` in one transaction; a foreign conversation is NotFound for its turn
        only (the others are stored); a turn asked before its account's data deletion is
        dropped (None).

        The rows of the whole batch go in one flush (one multi-row INSERT per table), not one
        flush per turn: the ORM's per-flush work was most of the write's cost.
        """
        async with self.db.write(changes_access=False) as session:
            repo = ConversationRepository(session)
            now = utcnow_()
            deleted = await repo.deletion_times({queued.account_id for queued in batch})
            outcomes: list[StoredTurn | NotFound | None] = []
            pending: list[tuple[int, _QueuedTurn, str, Turn]] = []
            for queued in batch:
                deleted_at = deleted.get(queued.account_id)
                if deleted_at is not None and queued.turn.asked_at <= deleted_at:
                    outcomes.append(None)
                    continue
                conversation_id = await self._conversation_for(repo, queued, now)
                if conversation_id is None:
                    outcomes.append(_not_found(queued.conversation_id or ""))
                    continue
                outcomes.append(None)  # replaced by the stored turn after the flush
                pending.append(
                    (len(outcomes) - 1, queued, conversation_id, _row(queued, conversation_id, now))
                )
            if pending:
                await repo.add_turns(
                    [turn for _, _, _, turn in pending],
                    conversations=[
                        Conversation(
                            conversation_id=conversation_id,
                            account_id=queued.account_id,
                            created_at=now,
                            last_turn_at=now,
                        )
                        for _, queued, conversation_id, _ in pending
                        if queued.conversation_id is None
                    ],
                )
            for position, queued, conversation_id, row in pending:
                outcomes[position] = _stored(queued, conversation_id, row, now)
            return outcomes

    async def _conversation_for(
        self, repo: ConversationRepository, queued: _QueuedTurn, now: datetime
    ) -> str | None:
        """The conversation the turn goes to: a new id, or the caller's own conversation
        (None when it is not, or no longer, one of the account's)."""
        if queued.conversation_id is None:
            return new_conversation_id()
        # Deleted or expired since it was read, or never this account's: one conditional
        # UPDATE both checks and records the turn time, and locks the row on PostgreSQL.
        if not await repo.touch_owned(queued.account_id, queued.conversation_id, now):
            return None
        return queued.conversation_id

    async def history(
        self, account_id: str, conversation_id: str, *, readable_pack_ids: Collection[str]
    ) -> ConversationHistory:
        """The caller's conversation with every stored turn, oldest first.

        Args:
            readable_pack_ids: the packs the caller may read now; an answer that cites any
                other (refunded, revoked, expired) is withheld (:data:`WITHHELD_ANSWER`).
        Raises:
            NotFound: no such conversation for this account.
        """
        async with self.db.read() as session:
            repo = ConversationRepository(session)
            conversation = await repo.owned(account_id, conversation_id)
            if conversation is None:
                raise _not_found(conversation_id)
            rows = await repo.turns(conversation_id)
        return ConversationHistory(
            conversation_id=conversation.conversation_id,
            created_at=as_utc(conversation.created_at),  # type: ignore[arg-type]
            turns=[self._open(row, readable_pack_ids) for row in rows],
        )

    async def handoffs(
        self, account_id: str, *, readable_pack_ids: Collection[str], limit: int = 50
    ) -> list[StoredTurn]:
        """The account's turns flagged for a human, newest first.

        Args:
            readable_pack_ids: as for :meth:`history`.
        Raises:
            ValidationError: ``limit`` outside 1..200.
        """
        if not 1 <= limit <= MAX_HANDOFFS:
            raise ValidationError(f"limit must be between 1 and {MAX_HANDOFFS}, got {limit!r}")
        async with self.db.read() as session:
            rows = await ConversationRepository(session).handoffs(account_id, limit)
        return [self._open(row, readable_pack_ids) for row in rows]

    async def delete_account_data(self, account_id: str) -> DeletedData:
        """Delete all of an account's conversations and turns in one transaction.

        The moment is recorded too, so a turn still being answered (asked before it) is dropped
        when it is written after it (:meth:`record_turn` returns None for it).
        """
        async with self.db.write(changes_access=False) as session:
            repo = ConversationRepository(session)
            conversations, turns = await repo.delete_for_account(account_id)
            await repo.mark_deleted(account_id, utcnow_())
            audit(
                session,
                "privacy.data_deleted",
                account_id=account_id,
                conversations=conversations,
                turns=turns,
            )
        return DeletedData(conversations=conversations, turns=turns)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete turns older than the retention period, and conversations left with none.

        Args:
            now: the current time (tests pass a later one); default the real UTC now.
        Returns:
            The number of turns deleted.
        """
        cutoff = (now or utcnow_()) - self.retention
        async with self.db.write(changes_access=False) as session:
            repo = ConversationRepository(session)
            turns = await repo.delete_turns_before(cutoff)
            conversations = await repo.delete_conversations_idle_since(cutoff)
        if turns or conversations:
            logger.info(
                "retention: deleted %d turns and %d conversations older than %s",
                turns,
                conversations,
                cutoff.isoformat(),
            )
        return turns

    async def rotate_conversation_keys(self, *, batch_size: int = ROTATION_BATCH) -> int:
        """Re-encrypt every stored turn under the cipher's current key (key rotation step 2).

        Works in batches, each its own transaction, so it can run while the server serves.
        Returns:
            The number of turns re-encrypted.
        Raises:
            DecryptionError: a token no configured key can decrypt (nothing after it is changed
                in that batch).
        """
        done, last_id = 0, 0
        while True:
            async with self.db.write(changes_access=False) as session:
                rows = await ConversationRepository(session).turn_batch(last_id, batch_size)
                for row in rows:
                    row.question_token = self.cipher.rotate(row.question_token)
                    row.answer_token = self.cipher.rotate(row.answer_token)
            if not rows:
                return done
            done += len(rows)
            last_id = rows[-1].turn_id

    def read_turn(self, row: Turn, readable_pack_ids: Collection[str]) -> StoredTurn:
        """Decrypt a turn row another package selected (core.learning's open handoffs), with
        the same withholding rule as :meth:`history`."""
        return self._open(row, readable_pack_ids)

    def _open(self, row: Turn, readable_pack_ids: Collection[str]) -> StoredTurn:
        citations = [Citation.from_dict(item) for item in row.citations or []]
        # The stored answer may quote a pack's passages: once the pack is no longer the
        # caller's (refund, revocation, expiry), its text is not shown again.
        withheld = any(c.pack_id not in readable_pack_ids for c in citations)
        return StoredTurn(
            turn_id=row.turn_id,
            conversation_id=row.conversation_id,
            created_at=as_utc(row.created_at),  # type: ignore[arg-type]
            question=self.cipher.decrypt(row.question_token),
            answer=WITHHELD_ANSWER if withheld else self.cipher.decrypt(row.answer_token),
            intent_label=row.intent_label,
            intent_confidence=row.intent_confidence,
            out_of_scope=row.out_of_scope,
            citations=citations,
            sentiment_compound=row.sentiment_compound,
            sentiment_label=row.sentiment_label,
            handoff=row.handoff,
            handoff_reason=row.handoff_reason,
        )


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id!r} not found")


async def run_retention_sweeps(service: ConversationService, interval_s: float) -> None:
    """Call :meth:`ConversationService.purge_expired` every ``interval_s`` seconds, forever.

    Runs until cancelled (the app's lifespan cancels it on shutdown). A failed sweep is logged
    and retried at the next interval rather than ending the loop.
    """
    while True:
        try:
            await service.purge_expired()
        except Exception:  # CancelledError is a BaseException: cancellation still ends the loop
            logger.exception("retention sweep failed; retrying in %.0f s", interval_s)
        await asyncio.sleep(interval_s)


def _row(queued: _QueuedTurn, conversation_id: str, now: datetime) -> Turn:
    turn = queued.turn
    return Turn(
        conversation_id=conversation_id,
        account_id=queued.account_id,
        created_at=now,
        question_token=queued.question_token,
        answer_token=queued.answer_token,
        intent_label=turn.intent_label,
        intent_confidence=turn.intent_confidence,
        out_of_scope=turn.out_of_scope,
        citations=[citation.to_dict() for citation in turn.citations],
        sentiment_compound=turn.sentiment_compound,
        sentiment_label=turn.sentiment_label,
        handoff=turn.handoff,
        handoff_reason=turn.handoff_reason,
    )


def _stored(queued: _QueuedTurn, conversation_id: str, row: Turn, now: datetime) -> StoredTurn:
    """The stored turn as its caller gets it: the redacted text it gave, not read back."""
    turn = queued.turn
    return StoredTurn(
        turn_id=row.turn_id,
        conversation_id=conversation_id,
        created_at=now,
        question=turn.question.text,
        answer=turn.answer.text,
        intent_label=turn.intent_label,
        intent_confidence=turn.intent_confidence,
        out_of_scope=turn.out_of_scope,
        citations=list(turn.citations),
        sentiment_compound=turn.sentiment_compound,
        sentiment_label=turn.sentiment_label,
        handoff=turn.handoff,
        handoff_reason=turn.handoff_reason,
    )


__all__ = [
    "ConversationHistory",
    "ConversationService",
    "DeletedData",
    "NewTurn",
    "StoredTurn",
    "TurnContext",
    "run_retention_sweeps",
]

