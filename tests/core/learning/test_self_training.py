"""Self-training: unlabelled turns a candidate confidently gives a new intent join its training
data, under the same safety rules as labelled examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.conversations.service import ConversationService
from core.intents.dataset import examples_from_manifests
from core.learning.dataset import DatasetPolicy
from core.learning.feedback import FeedbackService, UnlabelledTurn
from core.learning.registry import ModelRegistry
from core.learning.retrain import Retrainer, RetrainOptions
from core.learning.self_training import pseudo_label
from core.privacy import Redactor
from tests.core.learning.conftest import LABELS, store_turn

NEW = "finance:card_arrival"


def turn(turn_id: int, text: str, account: str = "a") -> UnlabelledTurn:
    return UnlabelledTurn(turn_id=turn_id, account_id=account, text=text)


def test_only_new_labels_above_the_confidence_are_taken_once_per_text() -> None:
    answers = {"where is my new card": (NEW, 0.9), "WHERE is my  new card": (NEW, 0.95),
               "my card has not arrived": (NEW, 0.4), "hello": ("platform:greeting", 0.99),
               "when will my card come": (NEW, 0.8), "card still not here": (NEW, 0.7)}
    turns = [turn(1, "where is my new card"), turn(2, "WHERE is my  new card"),
             turn(3, "my card has not arrived"), turn(4, "hello"),
             turn(5, "when will my card come"), turn(6, "Card still not here")]
    asked: list[list[str]] = []

    def classify(texts: list[str]) -> list[tuple[str, float]]:
        asked.append(texts)
        return [answers[t] if t in answers else answers[t.lower()] for t in texts]

    chosen = pseudo_label(turns, classify, labels={NEW},
                          known_texts={"card still not here"}, min_confidence=0.5)
    assert [(c.turn_id, c.label) for c in chosen] == [(1, NEW), (5, NEW)]
    assert asked == [["where is my new card", "my card has not arrived", "hello",
                      "when will my card come"]]  # duplicates and known texts never classified
    assert chosen[0].example().source == "turn 1 (self)"


def test_one_account_adds_at_most_its_cap_to_a_label_its_most_confident_first() -> None:
    turns = [turn(i, f"card question {i}", account="big") for i in range(1, 11)]
    turns.append(turn(11, "card question from another shop", account="small"))
    confidence = {t.text: 0.5 + t.turn_id / 100 for t in turns}
    chosen = pseudo_label(turns, lambda texts: [(NEW, confidence[t]) for t in texts],
                          labels={NEW}, known_texts=set(), max_per_account=3)
    assert sorted(c.turn_id for c in chosen) == [8, 9, 10, 11]


async def test_unlabelled_turns_are_the_newest_turns_nobody_labelled(
    feedback: FeedbackService, conversations: ConversationService, redactor: Redactor,
    new_account,  # type: ignore[no-untyped-def]
) -> None:
    account = await new_account()
    labelled = await store_turn(conversations, redactor, account, "hello there")
    resolved = await store_turn(conversations, redactor, account, "a person please",
                                intent="platform:human_agent", handoff=True)
    plain = [await store_turn(conversations, redactor, account, f"where is my card {i}, "
                              "write to jo@example.com") for i in range(3)]
    await feedback.give_feedback(account, labelled.conversation_id, labelled.turn_id,
                                 helpful=True)
    await feedback.resolve_handoff(account, resolved.turn_id, intent="platform:human_agent")
    found = await feedback.unlabelled_turns(limit=2)
    assert [t.turn_id for t in found] == [plain[2].turn_id, plain[1].turn_id]
    assert all("jo@example.com" not in t.text and "where is my card" in t.text for t in found)


async def test_a_head_retrain_learns_a_new_intent_from_its_unlabelled_turns_too(
    feedback: FeedbackService, conversations: ConversationService, redactor: Redactor,
    new_account, platform_head: Path, shared_embedder: Any, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    registry = ModelRegistry(feedback.db)
    current = await registry.register(platform_head)
    await registry.promote(current.version_id, actor="test")
    taught = ["where is my new card", "my card has not arrived yet", "when will my card come",
              "how long until my card is delivered", "card still not in the mail",
              "is my card on its way", "I am waiting for my card to arrive",
              "tracking my card delivery", "when does the new card get here",
              "has my card been sent"]
    untaught = ["my card hasn't shown up", "when will the card I ordered arrive",
                "still waiting on my bank card", "the card never came in the post",
                "how many days for card delivery", "has the replacement card shipped"]
    accounts = [await new_account(f"shop {i}") for i in range(3)]
    for index, text in enumerate(taught):
        account = accounts[index % 3]
        stored = await store_turn(conversations, redactor, account, text)
        await feedback.give_feedback(account, stored.conversation_id, stored.turn_id,
                                     helpful=False, correct_intent=NEW)
    for index, text in enumerate([*untaught, "hello, good morning"]):
        await store_turn(conversations, redactor, accounts[index % 3], text)

    retrainer = Retrainer(registry, feedback, models_dir=tmp_path / "models",
                          policy=DatasetPolicy(min_per_new_label=5, holdout_fraction=0.2),
                          embed=shared_embedder.embed, embedder_id=shared_embedder.model_id)
    report = await retrainer.retrain(base=examples_from_manifests([]), labels=LABELS,
                                     options=RetrainOptions(promote=False))
    assert report.new_labels == [NEW]
    pseudo = {item.text: item.label for item in report.pseudo_labelled}
    assert pseudo and set(pseudo.values()) == {NEW}
    assert "hello, good morning" not in pseudo and set(pseudo) <= set(untaught)
    assert report.to_dict()["pseudo_labelled"] == {NEW: len(pseudo)}
    assert report.version is not None
    assert report.version.training_config["retrain"]["pseudo_labelled"] == {NEW: len(pseudo)}
    assert any(line.startswith("self-training:") for line in report.lines())
