from __future__ import annotations

from dataclasses import dataclass

from core.assistant.routing import route_question
from core.intents.labels import OUT_OF_SCOPE

GENERIC = frozenset({"support-basics"})


@dataclass(frozen=True)
class P:
    label: str
    pack_id: str | None
    confidence: float


def route(prediction, scores, minimum=0.45):  # type: ignore[no-untyped-def]
    return route_question(prediction, scores, generic_pack_ids=GENERIC, min_retrieval_score=minimum)


def test_a_confident_pack_intent_decides() -> None:
    result = route(P("finance:topic_mortgages", "finance", 0.9), {"legal": 0.9})
    assert (result.pack_id, result.by) == ("finance", "intent")


def test_confident_platform_intents_are_not_routed_to_a_pack() -> None:
    result = route(P("platform:greeting", None, 0.95), {"finance": 0.9})
    assert (result.pack_id, result.by) == (None, "platform")


def test_a_weak_platform_intent_yields_to_a_matching_pack() -> None:
    matched = route(P("platform:human_agent", None, 0.22), {"pet-care": 0.7})
    assert (matched.pack_id, matched.by) == ("pet-care", "retrieval")
    unmatched = route(P("platform:human_agent", None, 0.22), {"pet-care": 0.1})
    assert (unmatched.pack_id, unmatched.by) == (None, "platform")


def test_out_of_scope_falls_back_to_the_best_domain_pack_score() -> None:
    result = route(
        P(OUT_OF_SCOPE, None, 0.2), {"finance": 0.5, "legal": 0.7, "support-basics": 0.9}
    )
    assert (result.pack_id, result.by) == ("legal", "retrieval")


def test_generic_pack_intents_use_retrieval_then_their_template() -> None:
    strong = route(P("support-basics:cancel_order", "support-basics", 0.8), {"finance": 0.6})
    assert (strong.pack_id, strong.by) == ("finance", "retrieval")
    weak = route(P("support-basics:cancel_order", "support-basics", 0.8), {"finance": 0.2})
    assert (weak.pack_id, weak.by) == (None, "generic")


def test_without_an_intent_generic_passages_still_answer() -> None:
    result = route(None, {"finance": 0.1, "support-basics": 0.6})
    assert (result.pack_id, result.by) == (None, "generic")


def test_nothing_close_enough_is_out_of_scope() -> None:
    result = route(P(OUT_OF_SCOPE, None, 0.1), {"finance": 0.3, "support-basics": 0.2})
    assert (result.pack_id, result.by) == (None, "none")
