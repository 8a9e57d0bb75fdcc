"""Sentiment labels and every handoff reason (plus the no-handoff case)."""

from __future__ import annotations

import pytest

from core.assistant.handoff import HandoffPolicy, TurnSignal
from core.assistant.sentiment import label_for, score_sentiment
from core.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you so much, that was really helpful!", "positive"),
        ("Where is my parcel?", "neutral"),
        ("This is terrible, the worst service I have ever had.", "negative"),
    ],
)
def test_sentiment_labels(text: str, label: str) -> None:
    sentiment = score_sentiment(text)
    assert sentiment.label == label
    assert -1.0 <= sentiment.compound <= 1.0


@pytest.mark.parametrize(
    ("compound", "label"),
    [(0.05, "positive"), (0.0499, "neutral"), (-0.0499, "neutral"), (-0.05, "negative")],
)
def test_standard_cutoffs(compound: float, label: str) -> None:
    assert label_for(compound) == label


@pytest.fixture
def policy() -> HandoffPolicy:
    return HandoffPolicy(negative_threshold=-0.6)


def test_human_agent_intent(policy: HandoffPolicy) -> None:
    decision = policy.decide(
        intent_label="platform:human_agent",
        confidence=0.9,
        sentiment_compound=0.0,
        previous_turns=[],
    )
    assert (decision.handoff, decision.reason) == (True, "human_agent_requested")


def test_complaint_intent(policy: HandoffPolicy) -> None:
    decision = policy.decide(
        intent_label="platform:complaint",
        confidence=0.9,
        sentiment_compound=0.2,
        previous_turns=[],
    )
    assert (decision.handoff, decision.reason) == (True, "complaint")


def test_strongly_negative_sentiment_from_a_real_message(policy: HandoffPolicy) -> None:
    compound = score_sentiment("This is awful, I am furious, worst company ever!").compound
    decision = policy.decide(
        intent_label="shop:order_status",
        confidence=0.9,
        sentiment_compound=compound,
        previous_turns=[],
    )
    assert (decision.handoff, decision.reason) == (True, "negative_sentiment")


def test_threshold_is_inclusive_and_configurable() -> None:
    strict = HandoffPolicy(negative_threshold=-0.3)
    kwargs = {"intent_label": "shop:refund", "confidence": 0.9, "previous_turns": []}
    assert strict.decide(sentiment_compound=-0.3, **kwargs).reason == "negative_sentiment"
    assert not strict.decide(sentiment_compound=-0.29, **kwargs).handoff


@pytest.mark.parametrize(
    ("previous", "current_label", "current_conf"),
    [
        (TurnSignal("out_of_scope", 0.2), "out_of_scope", 0.3),
        (TurnSignal("shop:refund", 0.3), "shop:returns", 0.4),  # both low confidence
        (TurnSignal("out_of_scope", 0.9), "shop:refund", 0.1),
    ],
)
def test_two_low_confidence_or_out_of_scope_turns_in_a_row(
    policy: HandoffPolicy, previous: TurnSignal, current_label: str, current_conf: float
) -> None:
    decision = policy.decide(
        intent_label=current_label,
        confidence=current_conf,
        sentiment_compound=0.0,
        previous_turns=[TurnSignal("platform:greeting", 0.99), previous],
    )
    assert (decision.handoff, decision.reason) == (True, "repeated_low_confidence")


def test_one_low_confidence_turn_is_not_enough(policy: HandoffPolicy) -> None:
    first = policy.decide(
        intent_label="out_of_scope", confidence=0.2, sentiment_compound=0.0, previous_turns=[]
    )
    not_in_a_row = policy.decide(
        intent_label="out_of_scope",
        confidence=0.2,
        sentiment_compound=0.0,
        previous_turns=[TurnSignal("out_of_scope", 0.1), TurnSignal("shop:refund", 0.95)],
    )
    assert not first.handoff and not not_in_a_row.handoff


def test_no_handoff(policy: HandoffPolicy) -> None:
    decision = policy.decide(
        intent_label="shop:order_status",
        confidence=0.92,
        sentiment_compound=0.4,
        previous_turns=[TurnSignal("platform:greeting", 0.97)],
    )
    assert (decision.handoff, decision.reason) == (False, None)


def test_out_of_range_threshold_is_rejected() -> None:
    with pytest.raises(ValidationError, match="-1.5"):
        HandoffPolicy(negative_threshold=-1.5)


@pytest.mark.parametrize(
    ("label", "answered", "expected"),
    [
        ("finance:card_declined", True, "finance:card_declined"),
        ("finance:card_declined", False, "out_of_scope"),  # "can't help" is a failed turn
        ("platform:human_agent", False, "platform:human_agent"),  # its own rule acts on it
        ("platform:complaint", False, "platform:complaint"),
    ],
)
def test_an_unanswered_turn_signals_out_of_scope(label: str, answered: bool, expected: str) -> None:
    assert TurnSignal.of(label, 0.9, answered=answered) == TurnSignal(expected, 0.9)
