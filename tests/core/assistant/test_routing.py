from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from core.assistant.assistant import Assistant
from core.assistant.routing import RoutingPolicy, intent_mass, route_question
from core.intents.labels import OUT_OF_SCOPE
from tests.core.assistant.test_handoff_answer import FINANCE, SUPPORT, FixedClassifier

GENERIC = frozenset({"support-basics"})
FREE = {"support-basics"}
ALL = {"support-basics", "finance", "legal", "pet-care"}
POLICY = RoutingPolicy(
    min_intent_mass=0.7, min_retrieval_score=0.5, offer_margin=0.2, min_generic_mass=0.3
)


@dataclass(frozen=True)
class P:
    label: str
    pack_id: str | None
    confidence: float
    top_k: list[tuple[str, float]] = field(default_factory=list)


def route(prediction, scores, active=ALL):  # type: ignore[no-untyped-def]
    return route_question(
        prediction, scores, generic_pack_ids=GENERIC, active_pack_ids=active, policy=POLICY
    )


def test_intent_mass_sums_a_packs_top_labels() -> None:
    p = P("finance:a", "finance", 0.5, [("finance:a", 0.5), ("finance:b", 0.3), ("legal:c", 0.1)])
    assert intent_mass(p) == {"finance": 0.8, "legal": 0.1}


def test_a_banking_question_goes_to_finance() -> None:
    p = P("finance:card_arrival", "finance", 0.9, [("finance:card_arrival", 0.9)])
    owner = route(p, {"finance": 0.6, "support-basics": 0.3})
    assert (owner.pack_id, owner.by) == ("finance", "intent")
    # The free-only customer gets an offer: the route names a pack it has not activated.
    free = route(p, {"finance": 0.6, "support-basics": 0.3}, active=FREE)
    assert free.pack_id == "finance"


def test_a_generic_refund_question_stays_with_the_free_generic_pack() -> None:
    # BANKING77's request_refund ranks first, but the generic pack holds a fair share.
    p = P(
        "finance:request_refund",
        "finance",
        0.5,
        [("finance:request_refund", 0.5), ("support-basics:get_refund", 0.4)],
    )
    free = route(p, {"finance": 0.62, "support-basics": 0.55}, active=FREE)
    assert (free.pack_id, free.by) == (None, "generic")
    owner = route(p, {"finance": 0.62, "support-basics": 0.55})
    assert (owner.pack_id, owner.by) == (None, "generic")


def test_a_generic_intent_is_not_swallowed_by_finance_passages() -> None:
    p = P("support-basics:cancel_order", "support-basics", 0.8,
          [("support-basics:cancel_order", 0.8)])
    assert route(p, {"finance": 0.7}, active=FREE).by == "generic"


def test_the_owned_pack_answers_when_a_paid_one_is_not_clearly_better() -> None:
    # Both claim it; legal (0.8) is not the caller's and beats pet-care (0.72, owned and
    # active) by less than the 0.2 offer margin: pet-care answers.
    mine = route_question(
        P("pet-care:bites", "pet-care", 0.72, [("pet-care:bites", 0.72), ("legal:tort", 0.8)]),
        {},
        generic_pack_ids=GENERIC,
        active_pack_ids={"pet-care", "support-basics"},
        policy=POLICY,
    )
    assert mine.pack_id == "pet-care"
    p = P("legal:tort", "legal", 0.75, [("legal:tort", 0.75), ("pet-care:bites", 0.2)])
    clearly_better = route_question(
        p, {}, generic_pack_ids=GENERIC, active_pack_ids={"support-basics"}, policy=POLICY
    )
    assert clearly_better.pack_id == "legal"  # an offer: 0.75 beats nothing by >= 0.2


def test_confident_platform_intents_are_not_routed_to_a_pack() -> None:
    result = route(P("platform:greeting", None, 0.95), {"finance": 0.9})
    assert (result.pack_id, result.by) == (None, "platform")


def test_retrieval_routes_only_above_the_calibrated_score() -> None:
    p = P(OUT_OF_SCOPE, None, 0.2, [("legal:x", 0.2), ("finance:y", 0.1)])
    assert route(p, {"legal": 0.55, "finance": 0.3}).pack_id == "legal"
    assert route(p, {"legal": 0.45, "finance": 0.3}).by == "none"


def test_an_out_of_scope_question_gets_no_pack() -> None:
    p = P(OUT_OF_SCOPE, None, 0.3, [("finance:y", 0.3), ("platform:thanks", 0.1)])
    for active in (FREE, ALL):
        result = route(p, {"finance": 0.35, "support-basics": 0.2}, active=active)
        assert (result.pack_id, result.by) == (None, "none")


def test_without_an_intent_generic_passages_still_answer() -> None:
    result = route(None, {"finance": 0.1, "support-basics": 0.6})
    assert (result.pack_id, result.by) == (None, "generic")


# --- with a domain head (its probabilities per pack and "none") -------------------------------
def route_d(prediction, domain, active=ALL, scores=None, policy=POLICY, support=None):  # type: ignore[no-untyped-def]
    return route_question(
        prediction,
        scores or {},
        generic_pack_ids=GENERIC,
        active_pack_ids=active,
        policy=policy,
        domain=domain,
        domain_support=support,
    )


WEAK = P(OUT_OF_SCOPE, None, 0.2, [("finance:y", 0.2), ("support-basics:x", 0.1)])


def test_the_domain_head_routes_banking_phrasing_the_intent_model_never_saw() -> None:
    # The intent classifier spreads its mass (0.2 finance): the head is sure it is finance.
    domain = {"finance": 0.9, "support-basics": 0.05, "none": 0.05}
    scores = {"finance": 0.45, "support-basics": 0.2}
    owner = route_d(WEAK, domain, scores=scores)
    assert (owner.pack_id, owner.by) == ("finance", "domain")
    offer = route_d(WEAK, domain, active=FREE, scores=scores)
    assert offer.pack_id == "finance"  # the free customer gets an offer


def test_a_domain_claim_needs_a_close_enough_passage() -> None:
    # Trivia the head takes for banking: finance has nothing close to it.
    domain = {"finance": 0.9, "support-basics": 0.05, "none": 0.05}
    result = route_d(WEAK, domain, scores={"finance": 0.15, "support-basics": 0.1})
    assert (result.pack_id, result.by) == (None, "none")


def test_a_domain_claim_needs_support_near_the_packs_own_questions() -> None:
    # "are androids expensive": 0.99 finance from the linear head, a passage at 0.31, but far
    # from every finance training question.
    domain = {"finance": 0.99, "support-basics": 0.005, "none": 0.005}
    scores = {"finance": 0.31, "support-basics": 0.1}
    far = route_d(WEAK, domain, scores=scores, support={"finance": 0.5})
    assert (far.pack_id, far.by) == (None, "none")
    # ... so the free customer gets no offer for it either.
    assert route_d(WEAK, domain, active=FREE, scores=scores, support={"finance": 0.5}).pack_id \
        is None
    near = route_d(WEAK, domain, scores=scores, support={"finance": 0.7})
    assert (near.pack_id, near.by) == ("finance", "domain")
    # A passage this close stands in for support: "what does habeas corpus mean" is far from
    # the legal pack's few intent examples but its glossary entry answers it.
    close = route_d(WEAK, domain, scores={"finance": 0.6}, support={"finance": 0.3})
    assert (close.pack_id, close.by) == ("finance", "domain")
    # A pack the support map leaves out has no support; no map at all skips the condition.
    assert route_d(WEAK, domain, scores=scores, support={}).by == "none"
    assert route_d(WEAK, domain, scores=scores, support=None).pack_id == "finance"


def test_a_domain_claim_yields_to_much_closer_questions_no_pack_takes() -> None:
    # "how do i set up direct deposit for my chase account": 0.9 finance for the head, near
    # finance's questions (0.67), but CLINC150's direct-deposit questions (a work intent,
    # "none") are far closer (0.85).
    domain = {"finance": 0.9, "support-basics": 0.05, "none": 0.05}
    scores = {"finance": 0.55, "support-basics": 0.1}
    closer_none = route_d(WEAK, domain, scores=scores, support={"finance": 0.67, "none": 0.85})
    assert (closer_none.pack_id, closer_none.by) == (None, "none")
    assert route_d(WEAK, domain, active=FREE, scores=scores,
                   support={"finance": 0.67, "none": 0.85}).pack_id is None  # no offer either
    # Within the lead (0.1 by default), or without "none" exemplars, the claim stands.
    for support in ({"finance": 0.67, "none": 0.75}, {"finance": 0.67}):
        kept = route_d(WEAK, domain, scores=scores, support=support)
        assert (kept.pack_id, kept.by) == ("finance", "domain")
    off = RoutingPolicy(max_none_support_lead=float("inf"))
    assert route_d(WEAK, domain, scores=scores, support={"finance": 0.67, "none": 0.85},
                   policy=off).pack_id == "finance"


def test_none_winning_is_out_of_scope_even_with_high_retrieval_scores() -> None:
    domain = {"finance": 0.2, "support-basics": 0.05, "none": 0.75}
    for active in (FREE, ALL):
        result = route_d(WEAK, domain, active=active, scores={"finance": 0.7})
        assert (result.pack_id, result.by) == (None, "none")


def test_a_confident_intent_and_a_close_passage_agreeing_outvote_none() -> None:
    # "Should I claim my Social Security benefits at 62?": the head, trained on CLINC150's
    # phrasing, says "none"; the intent classifier is sure it is finance and a finance passage
    # is close. Two signals agreeing claim it; either alone does not.
    sure = P("finance:retirement", "finance", 0.95, [("finance:retirement", 0.95)])
    domain = {"finance": 0.01, "support-basics": 0.0, "none": 0.99}
    agreeing = route_d(sure, domain, scores={"finance": 0.78})
    assert (agreeing.pack_id, agreeing.by) == ("finance", "intent")
    assert route_d(sure, domain, active=FREE, scores={"finance": 0.78}).pack_id == "finance"
    assert route_d(sure, domain, scores={"finance": 0.5}).by == "none"  # no passage close
    unsure = P("finance:retirement", "finance", 0.8, [("finance:retirement", 0.8)])
    assert route_d(unsure, domain, scores={"finance": 0.78}).by == "none"  # intent not sure
    off = RoutingPolicy(min_intent_mass_agreeing=1.01)
    assert route_d(sure, domain, scores={"finance": 0.78}, policy=off).by == "none"


def test_a_generic_intent_contradicts_a_domain_claim() -> None:
    # "refund for my order": the head leans finance but the generic intents hold the question.
    p = P("support-basics:get_refund", "support-basics", 0.7,
          [("support-basics:get_refund", 0.7), ("finance:request_refund", 0.2)])
    domain = {"finance": 0.6, "support-basics": 0.35, "none": 0.05}
    result = route_d(p, domain, active=FREE)
    assert (result.pack_id, result.by) == (None, "generic")


def test_a_pack_the_head_does_not_know_is_routed_by_the_rules() -> None:
    # pet-care was installed after the head was built: its intent mass still claims.
    p = P("pet-care:bites", "pet-care", 0.9, [("pet-care:bites", 0.9)])
    domain = {"finance": 0.1, "support-basics": 0.1, "none": 0.8}
    result = route_d(p, domain)
    assert (result.pack_id, result.by) == ("pet-care", "intent")
    # ... while a pack the head knows cannot claim by intent mass or retrieval alone (both
    # together: test_a_confident_intent_and_a_close_passage_agreeing_outvote_none).
    f = P("finance:card", "finance", 0.9, [("finance:card", 0.9)])
    assert route_d(f, domain, scores={"finance": 0.4}).by == "none"
    assert route_d(WEAK, domain, scores={"finance": 0.8}).by == "none"


def test_the_offer_margin_compares_head_probabilities() -> None:
    # finance 0.55 vs the generic pack's 0.4: not clearly better, the free pack answers.
    p = P("support-basics:payment_issue", "support-basics", 0.35,
          [("support-basics:payment_issue", 0.35), ("finance:card", 0.3)])
    domain = {"finance": 0.55, "support-basics": 0.4, "none": 0.05}
    free = route_d(p, domain, active=FREE, scores={"finance": 0.5},
                   policy=RoutingPolicy(min_domain_probability=0.5, max_generic_mass_against=1.0))
    assert (free.pack_id, free.by) == (None, "generic")


# --- through Assistant.ask: the head's probabilities reach routing ---------------------------
class _StubHead:
    """A domain head that answers the same probabilities (and support) for every vector."""

    def __init__(self, probabilities: dict[str, float], support: float = 0.9) -> None:
        self.probabilities_ = probabilities
        self.support_ = support
        self.vectors: list[object] = []
        self.support_asked: list[list[str]] = []

    def probabilities(self, vector: object) -> dict[str, float]:
        self.vectors.append(vector)
        return dict(self.probabilities_)

    def support(self, vector: object, pack_ids: Iterable[str]) -> dict[str, float]:
        asked = sorted(pack_ids)
        self.support_asked.append(asked)
        return {p: self.support_ for p in asked}


def _ask(head: _StubHead | None, active: set[str], question: str = "is my transfer done"):  # type: ignore[no-untyped-def]
    class Scores:
        def search(self, query, *, pack_ids, k, mode, query_vector=None):  # type: ignore[no-untyped-def]
            return []

        def pack_scores(self, query, pack_ids, *, query_vector=None):  # type: ignore[no-untyped-def]
            return {p: 0.45 for p in pack_ids}

        def embed_queries(self, queries):  # type: ignore[no-untyped-def]
            return np.ones((len(queries), 4), dtype=np.float32)

    async def packs(account_id: str) -> set[str]:
        return active

    assistant = Assistant(
        packs={"finance": FINANCE, "support-basics": SUPPORT},
        search=Scores(),
        active_packs=packs,
        owned_packs=packs,
        classifier=FixedClassifier(OUT_OF_SCOPE, None, 0.2),
        domain_model=head,
    )
    return asyncio.run(assistant.ask("acct", question))


def test_assistant_offers_the_pack_its_domain_head_names() -> None:
    head = _StubHead({"finance": 0.9, "support-basics": 0.05, "none": 0.05, "gone-pack": 0.0})
    answer = _ask(head, {"support-basics"})
    assert answer.offer is not None and answer.offer.pack_id == "finance"
    assert len(head.vectors) == 1  # the query vector routing already computed
    # Support is computed only for the packs whose probability could claim the question,
    # and for "none" to compare with.
    assert head.support_asked == [["finance", "none"]]


def test_assistant_asks_no_support_when_no_pack_could_claim() -> None:
    head = _StubHead({"finance": 0.1, "support-basics": 0.1, "none": 0.8})
    _ask(head, {"support-basics"})
    assert head.support_asked == []


def test_assistant_declines_what_its_head_claims_without_support() -> None:
    head = _StubHead({"finance": 0.9, "support-basics": 0.05, "none": 0.05}, support=0.3)
    for active in ({"support-basics"}, {"support-basics", "finance"}):
        answer = _ask(head, active)
        assert answer.out_of_scope and answer.offer is None


def test_assistant_declines_when_none_wins_and_routes_by_rules_without_a_head() -> None:
    answer = _ask(_StubHead({"finance": 0.1, "support-basics": 0.1, "none": 0.8}),
                  {"support-basics"})
    assert answer.out_of_scope and answer.offer is None
    # No head: the rules (intent mass 0, passages 0.45 < 0.5) decide: out of scope too.
    assert _ask(None, {"support-basics"}).out_of_scope
