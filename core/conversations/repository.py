"""SQL for conversations and turns. Runs inside a session the service opens; holds no keys.

Rows go in and out as ORM objects with their text still encrypted: decryption and redaction are
the service's job, so nothing here ever sees plaintext.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState

from core.conversations.models import Conversation, DataDeletion, Turn
from core.ledger.common import as_utc, insert_for


class ConversationRepository:
    """Queries over ``conversations`` and ``conversation_turns`` in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def owned(self, account_id: str, conversation_id: str) -> Conversation | None:
        """The conversation when it exists *and* belongs to ``account_id``, else None."""
        query = select(Conversation).where(
            Conversation.conversation_id == conversation_id,
            Conversation.account_id == account_id,
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def turns(self, conversation_id: str) -> Sequence[Turn]:
        """Every turn of a conversation, oldest first."""
        query = select(Turn).where(Turn.conversation_id == conversation_id).order_by(Turn.turn_id)
        return (await self.session.execute(query)).scalars().all()

    async def last_turns(self, account_id: str, conversation_id: str, count: int) -> list[Turn]:
        """The newest ``count`` turns of the account's conversation, returned oldest first."""
        query = (
            select(Turn)
            .where(Turn.conversation_id == conversation_id, Turn.account_id == account_id)
            .order_by(Turn.turn_id.desc())
            .limit(count)
        )
        rows = list((await self.session.execute(query)).scalars().all())
        rows.reverse()
        return rows

    async def handoffs(self, account_id: str, limit: int) -> Sequence[Turn]:
        """The account's turns flagged for handoff, newest first."""
        query = (
            select(Turn)
            .where(Turn.account_id == account_id, Turn.handoff.is_(True))
            .order_by(Turn.created_at.desc(), Turn.turn_id.desc())
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    def add_conversation(self, conversation: Conversation) -> None:
        self.session.add(conversation)

    async def add_turns(
        self, turns: list[Turn], *, conversations: Collection[Conversation] = ()
    ) -> None:
        """Insert new conversations and turns, one multi-row INSERT per table; each turn gets
        its ``turn_id``.

        Every turn's ``conversation_id`` must already be set (a new conversation's too). The
        rows are written as plain values, not through the unit of work: its per-object
        bookkeeping was most of a busy server's time in this write (BENCHMARKS.md "Load").
        """
        if conversations:
            await self.session.execute(
                insert(Conversation), [_set_values(row) for row in conversations]
            )
        if not turns:
            return
        inserted = await self.session.execute(
            insert(Turn).returning(Turn.turn_id, sort_by_parameter_order=True),
            [_set_values(row) for row in turns],
        )
        for row, turn_id in zip(turns, inserted.scalars().all(), strict=True):
            row.turn_id = turn_id

    async def touch_owned(self, account_id: str, conversation_id: str, moment: datetime) -> bool:
        """Record that the account's conversation got a turn at ``moment``.

        Returns:
            False when no such conversation belongs to ``account_id`` (nothing changed).
        """
        result = await self.session.execute(
            update(Conversation)
            .where(
                Conversation.conversation_id == conversation_id,
                Conversation.account_id == account_id,
            )
            .values(last_turn_at=moment)
        )
        return _rowcount(result) == 1

    async def deletion_times(self, account_ids: Collection[str]) -> dict[str, datetime]:
        """When each of these accounts last deleted its data (accounts that never did: absent)."""
        query = select(DataDeletion).where(DataDeletion.account_id.in_(list(account_ids)))
        rows = (await self.session.execute(query)).scalars().all()
        return {row.account_id: as_utc(row.deleted_at) for row in rows}  # type: ignore[misc]

    async def mark_deleted(self, account_id: str, moment: datetime) -> None:
        """Record that the account deleted its data at ``moment``."""
        insert = insert_for(self.session, DataDeletion).values(
            account_id=account_id, deleted_at=moment
        )
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["account_id"], set_={"deleted_at": moment}
            )
        )

    async def delete_for_account(self, account_id: str) -> tuple[int, int]:
        """Delete every turn and conversation of an account; returns (conversations, turns)."""
        turns = await self.session.execute(delete(Turn).where(Turn.account_id == account_id))
        conversations = await self.session.execute(
            delete(Conversation).where(Conversation.account_id == account_id)
        )
        return _rowcount(conversations), _rowcount(turns)

    async def delete_turns_before(self, cutoff: datetime) -> int:
        """Delete every turn created before ``cutoff``; returns how many."""
        result = await self.session.execute(delete(Turn).where(Turn.created_at < cutoff))
        return _rowcount(result)

    async def delete_conversations_idle_since(self, cutoff: datetime) -> int:
        """Delete conversations whose newest turn is older than ``cutoff`` (and so expired)."""
        result = await self.session.execute(
            delete(Conversation).where(Conversation.last_turn_at < cutoff)
        )
        return _rowcount(result)

    async def turn_batch(self, after_turn_id: int, size: int) -> Sequence[Turn]:
        """Up to ``size`` turns with ``turn_id > after_turn_id``, in id order (key rotation)."""
        query = select(Turn).where(Turn.turn_id > after_turn_id).order_by(Turn.turn_id).limit(size)
        return (await self.session.execute(query)).scalars().all()


def _rowcount(result: object) -> int:
    # DML results of an async session are CursorResults; their rowcount is the rows affected.
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


def _set_values(row: Conversation | Turn) -> dict[str, object]:
    """The column values set on a new (transient) row; unset columns take their defaults."""
    state: InstanceState[Conversation | Turn] = inspect(row)
    return {
        attribute.key: state.dict[attribute.key]
        for attribute in state.mapper.column_attrs
        if attribute.key in state.dict
    }
