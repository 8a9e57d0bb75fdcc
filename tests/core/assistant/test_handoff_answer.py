"""A handed-off answer says a person will follow up and carries no offer (issue 13, point 4),
through ``Assistant.ask`` with a stub search and classifier (as test_templates.py does).

The message from the issue (a card charge, a complaint, a request for a person) used to get a
finance upsell and no handoff."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from core.assistant.assistant import Assistant
from core.assistant.handoff import FOLLOW_UP_MESSAGE
from core.intents.classifier import Prediction
from core.packs.manifest import Manifest, parse_manifest
from core.retrieval.search import SearchHit

ISSUE_MESSAGE = (
    "I was charged twice for the same thing on my card and nobody has explained why. "
    "This is ridiculous, I want to talk to a real person."
)
HUMAN_AGENT_REPLY = "Our support team is here for you."
PASSAGE = "A card payment can show twice while the first one is pending. It drops off in days."


def _manifest(pack_id: str, intents: list[dict[str, Any]], *, paid: bool) -> Manifest:
    pricing = {"model": "one_time", "amount": 900, "currency": "usd"} if paid else {"model": "free"}
    return parse_manifest(
        {
            "id": pack_id, "name": pack_id.title(), "version": "1.0.0", "domain": "test",
            "publisher": "t", "license": "CC0", "attribution": "t", "pricing": pricing,
            "embedding_model": {"id": "m", "dimension": 4}, "intents": intents,
        }
    )


FINANCE = _manifest("finance", [{"name": "card_charge", "examples": ["charged twice"]}], paid=True)
SUPPORT = _manifest(
    "support-basics",
    [{"name": "human_agent", "platform": True, "examples": ["a human please"],
      "reply_template": HUMAN_AGENT_REPLY}],
    paid=False,
)


class FixedClassifier:
    def __init__(self, label: str, pack_id: str | None, confidence: float = 0.97) -> None:
        self.prediction = Prediction(label=label, pack_id=pack_id, confidence=confidence, top_k=[])

    def predict(self, texts: list[str]) -> list[Any]:
        return [self.prediction for _ in texts]


class OnePassage:
    """A search that finds one finance passage (or nothing with ``hits=False``)."""

    def __init__(self, hits: bool = True) -> None:
        self.hits = hits

    def search(self, query: str, *, pack_ids: Collection[str], k: int, mode: str,
               query_vector: Any = None) -> list[Any]:
        if not self.hits or "finance" not in pack_ids:
            return []
        return [SearchHit(pack_id="finance", document_id="d1", chunk_id=0, title="Pending",
                          source_url=None, text=PASSAGE, score=0.8, mode=mode)]

    def pack_scores(self, query: str, pack_ids: Collection[str], *,
                    query_vector: Any = None) -> dict[str, float]:
        return {pack_id: 0.0 for pack_id in pack_ids}

    def embed_queries(self, queries: Sequence[str]) -> Any:
        return np.ones((len(queries), 4), dtype=np.float32)


def _assistant(active: set[str], classifier: FixedClassifier, hits: bool = True) -> Assistant:
    async def active_packs(account_id: str) -> set[str]:
        return active

    return Assistant(
        packs={m.id: m for m in (FINANCE, SUPPORT)},
        search=OnePassage(hits),
        active_packs=active_packs,
        owned_packs=active_packs,
        classifier=classifier,
        platform_pack_ids={"support-basics"},
    )


CARD_CHARGE = FixedClassifier("finance:card_charge", "finance")


async def test_the_issue_message_hands_off_without_an_offer() -> None:
    answer = await _assistant({"support-basics"}, CARD_CHARGE).ask("acc", ISSUE_MESSAGE)
    assert answer.handoff.handoff and answer.handoff.reason == "human_agent_requested"
    assert answer.offer is None
    assert answer.text == FOLLOW_UP_MESSAGE
    assert "buy" not in answer.text and "Finance" not in answer.text
    assert "a person will follow up" in answer.text


async def test_the_same_intent_without_a_handoff_still_gets_its_offer() -> None:
    answer = await _assistant({"support-basics"}, CARD_CHARGE).ask(
        "acc", "Why was I charged twice for the same thing on my card?"
    )
    assert not answer.handoff.handoff
    assert answer.offer is not None and answer.offer.pack_id == "finance"


async def test_an_owned_pack_answer_keeps_its_content_and_adds_the_follow_up() -> None:
    answer = await _assistant({"support-basics", "finance"}, CARD_CHARGE).ask("acc", ISSUE_MESSAGE)
    assert answer.handoff.handoff and answer.offer is None
    assert answer.text.endswith("\n\n" + FOLLOW_UP_MESSAGE)
    assert "pending" in answer.text  # the passage's content stays
    assert [c.document_id for c in answer.citations] == ["d1"]


async def test_a_template_answer_keeps_the_template_and_adds_the_follow_up() -> None:
    human = FixedClassifier("platform:human_agent", None)
    answer = await _assistant({"support-basics"}, human).ask("acc", "human please")
    assert answer.handoff.reason == "human_agent_requested"
    assert answer.text == f"{HUMAN_AGENT_REPLY}\n\n{FOLLOW_UP_MESSAGE}"


async def test_a_cannot_help_answer_is_replaced_by_the_follow_up() -> None:
    unknown = FixedClassifier("out_of_scope", None, confidence=0.2)
    answer = await _assistant({"support-basics"}, unknown, hits=False).ask(
        "acc", "I've written three times and nobody ever gets back to me."
    )
    assert answer.handoff.reason == "repeated_contact"
    assert answer.out_of_scope  # still a failed turn for the repeated-low-confidence rule
    assert answer.text == FOLLOW_UP_MESSAGE


async def test_no_handoff_leaves_the_answer_as_it_was() -> None:
    greeting = FixedClassifier("platform:greeting", None)
    answer = await _assistant({"support-basics"}, greeting).ask("acc", "hello there")
    assert not answer.handoff.handoff
    assert FOLLOW_UP_MESSAGE not in answer.text
