"""The learned dataset: labels that exist (or new ones with enough examples), one example per
text, the base data respected, a per-account cap, a per-label minimum, a stable held-out split,
each example traceable to its turns; and nothing of a deleted or expired turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.conversations.service import ConversationService
from core.intents.dataset import Example
from core.learning.dataset import DatasetPolicy, build_dataset
from core.learning.feedback import FeedbackService, LabelledTurn
from core.privacy import Redactor
from tests.core.learning.conftest import LABELS, store_turn

NOW = datetime(2026, 11, 30, tzinfo=UTC)
BASE = [Example("hello", "platform:greeting"), Example("I lost my card", "finance:card_lost")]


def row(turn_id: int, text: str, label: str, account: str = "acc_a",
        kind: str = "correction") -> LabelledTurn:
    return LabelledTurn(turn_id, account, text, label, kind, NOW)  # type: ignore[arg-type]


def reasons(report, turn_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.reason for r in report.rejected if r.turn_id == turn_id]


def test_one_account_cannot_steer_a_label_past_the_cap() -> None:
    rows = [row(i, f"where is my parcel number {i}", "finance:card_lost", "acc_a")
            for i in range(1, 9)]
    rows += [row(100 + i, f"my parcel {i} never came", "finance:card_lost", "acc_b")
             for i in range(2)]
    report = build_dataset(rows, base=BASE, labels=LABELS,
                           policy=DatasetPolicy(max_per_account=5, min_per_label=3))
    by_account = {}
    for item in report.accepted:
        by_account[item.account_id] = by_account.get(item.account_id, 0) + 1
    assert by_account == {"acc_a": 5, "acc_b": 2}
    capped = [r for r in report.rejected if "per-account cap" in r.reason]
    assert len(capped) == 3


def test_a_new_label_waits_for_its_minimum_and_one_account_cannot_create_it() -> None:
    new = "finance:parcel_missing"
    one_account = [row(i, f"parcel {i} lost in the mail", new, "acc_a") for i in range(20)]
    report = build_dataset(one_account, base=BASE, labels=LABELS,
                           policy=DatasetPolicy(max_per_account=10, min_per_new_label=15))
    assert report.accepted == []
    assert any("waiting: the label has 10 of the 15" in r.reason for r in report.rejected)

    two_accounts = one_account + [row(100 + i, f"my parcel {i} vanished", new, "acc_b")
                                  for i in range(6)]
    report = build_dataset(two_accounts, base=BASE, labels=LABELS,
                           policy=DatasetPolicy(max_per_account=10, min_per_new_label=15))
    assert len(report.accepted) == 16
    assert all(item.new_label for item in report.accepted)
    (summary,) = report.labels
    assert (summary.label, summary.new_label, summary.accounts) == (new, True, 2)


def test_an_existing_label_needs_its_minimum_too() -> None:
    rows = [row(1, "card gone", "finance:card_lost"), row(2, "card stolen", "finance:card_lost")]
    report = build_dataset(rows, base=BASE, labels=LABELS, policy=DatasetPolicy(min_per_label=3))
    assert report.accepted == []
    rows.append(row(3, "cannot find my card", "finance:card_lost"))
    report = build_dataset(rows, base=BASE, labels=LABELS, policy=DatasetPolicy(min_per_label=3))
    assert sorted(i.turn_ids[0] for i in report.accepted) == [1, 2, 3]


def test_duplicates_merge_and_keep_every_turn() -> None:
    rows = [row(1, "Card  GONE", "finance:card_lost", "acc_a"),
            row(2, "card gone", "finance:card_lost", "acc_b", kind="confirmation"),
            row(3, "card stolen", "finance:card_lost"), row(4, "card missing", "finance:card_lost")]
    report = build_dataset(rows, base=BASE, labels=LABELS)
    merged = [item for item in report.accepted if 1 in item.turn_ids]
    assert len(merged) == 1 and merged[0].turn_ids == (1, 2)
    assert merged[0].example().source == "turn 1,2"
    assert len(report.accepted) == 3


def test_a_resolution_outranks_feedback_and_disagreement_drops_the_text() -> None:
    rows = [row(1, "help me", "platform:complaint", kind="correction"),
            row(2, "help me", "platform:human_agent", kind="resolution"),
            row(3, "help now", "platform:human_agent", kind="resolution"),
            row(4, "help now", "platform:complaint", kind="resolution")]
    report = build_dataset(rows, base=BASE, labels=LABELS, policy=DatasetPolicy(min_per_label=1))
    assert [(i.text, i.label) for i in report.accepted] == [("help me", "platform:human_agent")]
    assert reasons(report, 1) == ["an agent's resolution says 'platform:human_agent'"]
    assert "disagree" in reasons(report, 3)[0] and "disagree" in reasons(report, 4)[0]


def test_the_base_data_is_not_repeated_nor_contradicted() -> None:
    rows = [row(1, "Hello", "platform:greeting"), row(2, "i lost my card", "platform:complaint")]
    report = build_dataset(rows, base=BASE, labels=LABELS, policy=DatasetPolicy(min_per_label=1))
    assert report.accepted == []
    assert reasons(report, 1) == ["already in the base data"]
    assert "labels this text ['finance:card_lost']" in reasons(report, 2)[0]


def test_labels_that_cannot_be_used_are_refused_with_the_reason() -> None:
    rows = [row(1, "x", "legal:contract"), row(2, "y", "not a label")]
    report = build_dataset(rows, base=BASE, labels=LABELS)
    assert "not served" in reasons(report, 1)[0]
    assert "not a label" in reasons(report, 2)[0]


def test_the_held_out_split_is_stable_and_every_label_keeps_training_rows() -> None:
    rows = [row(i, f"lost card variant {i}", "finance:card_lost", f"acc_{i % 4}")
            for i in range(40)]
    policy = DatasetPolicy(holdout_fraction=0.25)
    first = build_dataset(rows, base=BASE, labels=LABELS, policy=policy)
    again = build_dataset(list(reversed(rows)), base=BASE, labels=LABELS, policy=policy)
    held = {i.text for i in first.accepted if i.split == "heldout"}
    assert held == {i.text for i in again.accepted if i.split == "heldout"}
    assert 4 <= len(held) <= 16
    assert first.data_sha256 == again.data_sha256


async def test_labelled_turns_come_from_feedback_and_resolutions(
    feedback: FeedbackService, conversations: ConversationService, redactor: Redactor,
    new_account,  # type: ignore[no-untyped-def]
) -> None:
    account = await new_account()
    a = await store_turn(conversations, redactor, account, "mail me at jo@example.com please",
                         intent="platform:greeting")
    b = await store_turn(conversations, redactor, account, "thanks a lot",
                         intent="platform:thanks")
    c = await store_turn(conversations, redactor, account, "get me a human", handoff=True)
    d = await store_turn(conversations, redactor, account, "meh", intent="platform:thanks")
    await feedback.give_feedback(account, a.conversation_id, a.turn_id, helpful=False,
                                 correct_intent="platform:human_agent")
    await feedback.give_feedback(account, b.conversation_id, b.turn_id, helpful=True)
    await feedback.give_feedback(account, d.conversation_id, d.turn_id, helpful=False)
    await feedback.resolve_handoff(account, c.turn_id, intent="platform:human_agent")
    labelled = {(t.turn_id, t.label, t.kind, t.text) for t in await feedback.labelled_turns()}
    assert labelled == {
        (a.turn_id, "platform:human_agent", "correction", "mail me at [EMAIL] please"),
        (b.turn_id, "platform:thanks", "confirmation", "thanks a lot"),
        (c.turn_id, "platform:human_agent", "resolution", "get me a human"),
    }


async def test_deleted_and_expired_turns_take_their_labels_with_them(
    feedback: FeedbackService, conversations: ConversationService, redactor: Redactor,
    new_account,  # type: ignore[no-untyped-def]
) -> None:
    erased, kept = await new_account("erased"), await new_account("kept")
    for account in (erased, kept):
        turn = await store_turn(conversations, redactor, account, f"question of {account}",
                                handoff=True)
        await feedback.resolve_handoff(account, turn.turn_id, intent="platform:human_agent")
        await feedback.give_feedback(account, turn.conversation_id, turn.turn_id, helpful=False,
                                     correct_intent="platform:complaint", comment="bad")
    await conversations.delete_account_data(erased)
    assert {t.account_id for t in await feedback.labelled_turns()} == {kept}

    await conversations.purge_expired(now=datetime.now(UTC) + timedelta(days=31))
    assert await feedback.labelled_turns() == []
    async with conversations.db.read() as session:
        from sqlalchemy import func, select

        from core.learning.models import HandoffResolution, TurnFeedback

        for model in (TurnFeedback, HandoffResolution):
            assert (await session.execute(select(func.count()).select_from(model))).scalar() == 0
