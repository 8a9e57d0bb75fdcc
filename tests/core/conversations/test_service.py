"""ConversationService on a real migrated database: storage, isolation, retention, deletion,
key rotation. Raw rows are read with plain SQL to check what is really at rest."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from core.conversations.models import Conversation, Turn
from core.conversations.service import (
    WITHHELD_ANSWER,
    ConversationService,
    NewTurn,
    TurnContext,
    run_retention_sweeps,
)
from core.errors import DecryptionError, NotFound, ValidationError
from core.ledger.common import utcnow_
from core.ledger.db import Database
from core.ledger.models import AuditEntry
from core.privacy import Redactor, TextCipher, generate_key
from core.retrieval.citation import Citation
from tests.core.conversations.conftest import RETENTION_DAYS

EMAIL = "maria.lopez@example.org"
CARD = "4111 1111 1111 1111"
READABLE = {"support-basics"}  # what the test accounts may read: the cited pack
REDACTOR = Redactor()  # storage takes only redacted text: the ask service redacts, once


def turn(
    question: str = "where is my parcel?",
    *,
    answer: str = "Track it from your orders page.",
    label: str = "support-basics:track_order",
    confidence: float = 0.9,
    handoff: str | None = None,
    out_of_scope: bool = False,
) -> NewTurn:
    return NewTurn(
        question=REDACTOR.redact(question),
        answer=REDACTOR.redact(answer),
        intent_label=label,
        intent_confidence=confidence,
        sentiment_compound=-0.1,
        sentiment_label="negative",
        out_of_scope=out_of_scope,
        handoff=handoff is not None,
        handoff_reason=handoff,
        citations=[Citation("support-basics", "d1", "Track", None, 0.8)],
    )


async def raw_turns(db: Database) -> list[dict]:
    async with db.read() as session:
        rows = await session.execute(text("SELECT * FROM conversation_turns ORDER BY turn_id"))
        return [dict(row._mapping) for row in rows]


async def test_turns_are_redacted_encrypted_and_read_back_in_order(
    service: ConversationService, db: Database, account_a: str
) -> None:
    first = await service.record_turn(
        account_a, None, turn(f"mail me at {EMAIL}, card {CARD}", answer=f"We wrote to {EMAIL}")
    )
    assert first.conversation_id.startswith("conv_")
    assert first.question == "mail me at [EMAIL], card [CARD]"
    assert first.answer == "We wrote to [EMAIL]"
    second = await service.record_turn(account_a, first.conversation_id, turn("and now?"))

    history = await service.history(account_a, first.conversation_id, readable_pack_ids=READABLE)
    assert [t.turn_id for t in history.turns] == [first.turn_id, second.turn_id]
    assert history.turns[0].question == "mail me at [EMAIL], card [CARD]"
    assert history.turns[0].citations[0].document_id == "d1"
    assert history.turns[1].intent_label == "support-basics:track_order"

    for row in await raw_turns(db):
        for column in ("question_token", "answer_token"):
            assert row[column].startswith("gAAAAA")  # a Fernet token, not text
            assert "[EMAIL]" not in row[column] and EMAIL not in row[column]
        assert EMAIL not in repr(row) and "4111" not in repr(row)


async def test_recent_turns_give_the_handoff_context_oldest_first(
    service: ConversationService, account_a: str
) -> None:
    first = await service.record_turn(account_a, None, turn(label="platform:greeting"))
    await service.record_turn(
        account_a, first.conversation_id, turn(label="finance:topic_x", out_of_scope=True)
    )
    context = await service.recent_turns(account_a, first.conversation_id)
    assert context == [
        TurnContext("platform:greeting", 0.9, out_of_scope=False),
        TurnContext("finance:topic_x", 0.9, out_of_scope=True),
    ]


async def test_another_accounts_conversation_is_not_found(
    service: ConversationService, db: Database, account_a: str, account_b: str
) -> None:
    mine = await service.record_turn(account_a, None, turn(handoff="complaint"))
    with pytest.raises(NotFound) as theirs:
        await service.history(account_b, mine.conversation_id, readable_pack_ids=READABLE)
    with pytest.raises(NotFound) as missing:
        await service.history(account_b, "conv_doesnotexist", readable_pack_ids=READABLE)
    # Same wording shape either way: nothing tells B that A's id exists.
    assert str(theirs.value).replace(mine.conversation_id, "X") == str(missing.value).replace(
        "conv_doesnotexist", "X"
    )
    with pytest.raises(NotFound):
        await service.recent_turns(account_b, mine.conversation_id)
    with pytest.raises(NotFound):
        await service.record_turn(account_b, mine.conversation_id, turn("sneaky"))
    assert len(await raw_turns(db)) == 1  # the refused turn left nothing behind
    assert await service.handoffs(account_b, readable_pack_ids=READABLE) == []
    mine_flagged = await service.handoffs(account_a, readable_pack_ids=READABLE)
    assert [t.turn_id for t in mine_flagged] == [mine.turn_id]


async def test_handoffs_newest_first_and_limit_is_checked(
    service: ConversationService, account_a: str
) -> None:
    one = await service.record_turn(account_a, None, turn(handoff="complaint"))
    await service.record_turn(account_a, one.conversation_id, turn())
    two = await service.record_turn(account_a, None, turn(handoff="negative_sentiment"))
    handoffs = await service.handoffs(account_a, readable_pack_ids=READABLE)
    assert [(t.turn_id, t.handoff_reason) for t in handoffs] == [
        (two.turn_id, "negative_sentiment"),
        (one.turn_id, "complaint"),
    ]
    assert len(await service.handoffs(account_a, limit=1, readable_pack_ids=READABLE)) == 1
    with pytest.raises(ValidationError, match="limit"):
        await service.handoffs(account_a, limit=0, readable_pack_ids=READABLE)


async def test_delete_account_data_removes_only_the_callers_rows(
    service: ConversationService, db: Database, account_a: str, account_b: str
) -> None:
    first = await service.record_turn(account_a, None, turn())
    await service.record_turn(account_a, first.conversation_id, turn())
    await service.record_turn(account_a, None, turn(handoff="complaint"))
    other = await service.record_turn(account_b, None, turn())

    deleted = await service.delete_account_data(account_a)
    assert (deleted.conversations, deleted.turns) == (2, 3)
    assert [row["account_id"] for row in await raw_turns(db)] == [account_b]
    with pytest.raises(NotFound):
        await service.history(account_a, first.conversation_id, readable_pack_ids=READABLE)
    assert (
        await service.history(account_b, other.conversation_id, readable_pack_ids=READABLE)
    ).turns
    again = await service.delete_account_data(account_a)
    assert (again.conversations, again.turns) == (0, 0)
    async with db.read() as session:
        actions = (await session.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "privacy.data_deleted")
        )).scalars().all()
    assert {"conversations": 2, "turns": 3} in actions


async def test_purge_expired_deletes_old_turns_and_empty_conversations(
    service: ConversationService, db: Database, account_a: str
) -> None:
    old = await service.record_turn(account_a, None, turn("old one"))
    mixed = await service.record_turn(account_a, None, turn("old in a live conversation"))
    fresh = await service.record_turn(account_a, mixed.conversation_id, turn("recent"))
    now = utcnow_()
    long_ago = now - timedelta(days=RETENTION_DAYS + 5)
    async with db.write() as session:  # age two turns (and the first conversation) by hand
        await session.execute(
            Turn.__table__.update()
            .where(Turn.turn_id.in_([old.turn_id, mixed.turn_id]))
            .values(created_at=long_ago)
        )
        await session.execute(
            Conversation.__table__.update()
            .where(Conversation.conversation_id == old.conversation_id)
            .values(last_turn_at=long_ago)
        )

    assert await service.purge_expired(now=now) == 2
    with pytest.raises(NotFound):
        await service.history(account_a, old.conversation_id, readable_pack_ids=READABLE)
    remaining = await service.history(
        account_a, mixed.conversation_id, readable_pack_ids=READABLE
    )
    assert [t.turn_id for t in remaining.turns] == [fresh.turn_id]

    assert await service.purge_expired(now=now + timedelta(days=RETENTION_DAYS - 1)) == 0
    assert await service.purge_expired(now=now + timedelta(days=RETENTION_DAYS + 1)) == 1
    assert await raw_turns(db) == []
    async with db.read() as session:
        assert (await session.execute(select(Conversation))).first() is None


async def test_periodic_sweep_purges_and_stops_when_cancelled(
    db: Database, key: str, account_a: str
) -> None:
    # retention 1 day and a turn aged 2 days: the first sweep must remove it.
    service = ConversationService(db, TextCipher([key]), retention_days=1)
    stored = await service.record_turn(account_a, None, turn())
    async with db.write() as session:
        await session.execute(
            Turn.__table__.update().values(created_at=utcnow_() - timedelta(days=2))
        )
    task = asyncio.create_task(run_retention_sweeps(service, 0.05))
    for _ in range(100):
        if not await raw_turns(db):
            break
        await asyncio.sleep(0.02)
    assert await raw_turns(db) == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert stored.turn_id  # the turn existed before the sweep


async def test_rotate_keys_reencrypts_every_turn_under_the_new_key(
    db: Database, key: str, account_a: str
) -> None:
    old_service = ConversationService(db, TextCipher([key]), retention_days=30)
    first = await old_service.record_turn(account_a, None, turn(f"write {EMAIL}"))
    for _ in range(4):
        await old_service.record_turn(account_a, first.conversation_id, turn())
    before = {row["turn_id"]: row["question_token"] for row in await raw_turns(db)}

    new_key = generate_key()
    rotating = ConversationService(db, TextCipher([new_key, key]), retention_days=30)
    assert await rotating.rotate_conversation_keys(batch_size=2) == 5
    after = {row["turn_id"]: row["question_token"] for row in await raw_turns(db)}
    assert after.keys() == before.keys() and all(after[i] != before[i] for i in after)

    # The old key can be dropped now: the new key alone reads everything, the old one nothing.
    new_only = ConversationService(db, TextCipher([new_key]), retention_days=30)
    history = await new_only.history(
        account_a, first.conversation_id, readable_pack_ids=READABLE
    )
    assert history.turns[0].question == "write [EMAIL]"
    with pytest.raises(DecryptionError):
        await old_service.history(account_a, first.conversation_id, readable_pack_ids=READABLE)


async def test_retention_days_must_be_positive(db: Database, key: str) -> None:
    with pytest.raises(ValidationError, match="retention_days"):
        ConversationService(db, TextCipher([key]), retention_days=0)


async def test_migration_matches_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.ledger.models import Base

    def diff(connection: object) -> list:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return [
            change for change in compare_metadata(context, Base.metadata)
            if "conversation" in repr(change)
        ]

    async with db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_concurrent_turns_share_commits_and_each_gets_its_own(
    service: ConversationService, db: Database, account_a: str, account_b: str
) -> None:
    first = await service.record_turn(account_a, None, turn("q0"))
    commits = 0
    original_store = service._store

    async def counting_store(batch):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return await original_store(batch)

    service._store = counting_store  # type: ignore[method-assign]
    calls = [service.record_turn(account_a, None, turn(f"question {i}")) for i in range(20)]
    calls.append(service.record_turn(account_a, first.conversation_id, turn("follow-up")))
    calls.append(service.record_turn(account_b, first.conversation_id, turn("not mine")))
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(results[-1], NotFound)  # only the foreign conversation fails
    stored = results[:-1]
    assert all(not isinstance(r, BaseException) for r in stored)
    assert [r.question for r in stored[:20]] == [f"question {i}" for i in range(20)]
    assert len({r.turn_id for r in stored}) == 21
    assert len({r.conversation_id for r in stored[:20]}) == 20
    assert stored[20].conversation_id == first.conversation_id
    assert commits < len(calls)  # grouped: fewer transactions than turns
    history = await service.history(account_a, first.conversation_id, readable_pack_ids=READABLE)
    assert [t.question for t in history.turns] == ["q0", "follow-up"]


async def test_a_group_commit_inserts_its_turns_together(
    service: ConversationService, db: Database, account_a: str
) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO CONVERSATIONS "):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        results = await asyncio.gather(
            *(service.record_turn(account_a, None, turn(f"q{i}")) for i in range(20))
        )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)

    # The new conversations of a transaction in one statement (one flush for the whole batch),
    # not one per turn. (Turns need their ids back: SQLite inserts them row by row.)
    assert len(statements) < 20, statements
    turn_ids = [r.turn_id for r in results]
    assert turn_ids == sorted(turn_ids) and len(set(turn_ids)) == 20  # in the order asked
    assert len(await raw_turns(db)) == 20


async def test_a_failing_turn_fails_only_its_caller(
    service: ConversationService, db: Database, account_a: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.conversations.repository import ConversationRepository

    original_add = ConversationRepository.add_turns

    async def add_turns(self, rows, **kwargs):  # type: ignore[no-untyped-def]
        if any(row.intent_label == "poison" for row in rows):
            raise RuntimeError("the database refused this row")
        return await original_add(self, rows, **kwargs)

    monkeypatch.setattr(ConversationRepository, "add_turns", add_turns)
    calls = [service.record_turn(account_a, None, turn(f"q{i}")) for i in range(5)]
    calls.insert(2, service.record_turn(account_a, None, turn("bad", label="poison")))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[2], RuntimeError)
    good = [r for i, r in enumerate(results) if i != 2]
    assert [r.question for r in good] == [f"q{i}" for i in range(5)]
    assert len(await raw_turns(db)) == 5  # the poisoned batch rolled back; the rest stored again


async def test_drain_waits_for_queued_turns(
    service: ConversationService, db: Database, account_a: str
) -> None:
    pending = asyncio.ensure_future(service.record_turn(account_a, None, turn("late")))
    for _ in range(500):  # until it is sealed and handed to the committer
        if service._committer is not None:
            break
        await asyncio.sleep(0.01)
    await service.drain()  # without awaiting the caller
    assert len(await raw_turns(db)) == 1
    assert (await pending).question == "late"


async def test_an_answer_citing_a_pack_no_longer_readable_is_withheld(
    service: ConversationService, account_a: str
) -> None:
    stored = await service.record_turn(
        account_a, None, turn(answer="A passage quoted from the support pack.", handoff="complaint")
    )
    readable = await service.history(account_a, stored.conversation_id, readable_pack_ids=READABLE)
    assert readable.turns[0].answer == "A passage quoted from the support pack."
    # After a refund the pack is no longer readable: its text is not shown again, anywhere.
    refunded = await service.history(account_a, stored.conversation_id, readable_pack_ids=set())
    assert refunded.turns[0].answer == WITHHELD_ANSWER
    assert refunded.turns[0].question == "where is my parcel?"  # the customer's own words stay
    flagged = await service.handoffs(account_a, readable_pack_ids=set())
    assert [t.answer for t in flagged] == [WITHHELD_ANSWER]


async def test_a_turn_asked_before_a_data_deletion_is_dropped_not_stored(
    service: ConversationService, db: Database, account_a: str
) -> None:
    # The question came in, then the customer deleted its data while it was being answered.
    asked_before = utcnow_()
    await service.record_turn(account_a, None, turn("an older question"))
    deleted = await service.delete_account_data(account_a)
    assert deleted.turns == 1
    in_flight = NewTurn(**{**turn("answered during the deletion").__dict__,
                           "asked_at": asked_before})
    assert await service.record_turn(account_a, None, in_flight) is None
    assert await raw_turns(db) == []  # nothing written after the deletion
    # A question asked after the deletion is stored as usual.
    later = await service.record_turn(account_a, None, turn("a new question"))
    assert later is not None and len(await raw_turns(db)) == 1
