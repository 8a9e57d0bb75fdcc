"""Handoff as its own detector (issue 13, point 4): the message itself, not only the top intent,
decides; every reason code from a real message; hard negatives stay with the assistant; the
labelled set's held-out split meets the targets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.assistant.handoff import REASONS, Handoff, HandoffPolicy, TurnSignal
from core.assistant.sentiment import score_sentiment
from core.assistant.signals import normalise, read_signals

REPO = Path(__file__).resolve().parents[3]
LABELLED = REPO / "bench" / "data" / "handoff.jsonl"
# A confident in-scope intent that is neither the human-agent nor the complaint label: only
# the message can hand these off.
NEUTRAL_INTENT = ("finance:card_payment_fee_charged", 0.93)


@pytest.fixture(scope="module")
def policy() -> HandoffPolicy:
    return HandoffPolicy(negative_threshold=-0.6)


def decide(
    policy: HandoffPolicy,
    message: str,
    intent: tuple[str, float] = NEUTRAL_INTENT,
    previous: list[TurnSignal] | None = None,
) -> Handoff:
    return policy.decide(
        intent_label=intent[0],
        confidence=intent[1],
        sentiment_compound=score_sentiment(message).compound,
        previous_turns=previous or [],
        message=message,
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        # the message from the issue: a card charge, a complaint and a request for a person
        (
            "I was charged twice for the same order on my card, this is ridiculous. "
            "I want to speak to someone, not a bot.",
            "human_agent_requested",
        ),
        ("Please put me through to a supervisor.", "human_agent_requested"),
        ("Can someone from billing call me back tomorrow?", "human_agent_requested"),
        ("REPRESENTATIVE!!!", "human_agent_requested"),
        ("hi, i need to speek to a humn about my acount", "human_agent_requested"),  # typos
        ("I want to make a formal complaint about how my claim was handled.", "complaint"),
        ("Your app is still not fixed and frankly that is unacceptable.", "complaint"),
        ("I've emailed you four times and nobody has replied.", "repeated_contact"),
        ("Still waiting for the refund you promised last month.", "repeated_contact"),
        ("If this isn't sorted by Friday I'm taking it to the ombudsman.", "escalation"),
        ("Refund me or I'm filing a chargeback with my card company.", "escalation"),
        ("You'll be hearing from my solicitor.", "escalation"),
        ("Fix this or I will close my account and move to another bank.", "escalation"),
        ("I'm absolutely fed up with this card.", "negative_sentiment"),  # explicit frustration
        ("WHERE IS MY MONEY??? I NEED IT TODAY!!!", "negative_sentiment"),  # shouting, runs
    ],
)
def test_each_reason_from_a_real_message(policy: HandoffPolicy, message: str, reason: str) -> None:
    decision = decide(policy, message)
    assert (decision.handoff, decision.reason) == (True, reason)


def test_repeated_low_confidence_still_hands_off_with_a_neutral_message(
    policy: HandoffPolicy,
) -> None:
    decision = decide(
        policy, "what about the other one", ("out_of_scope", 0.2), [TurnSignal("out_of_scope", 0.3)]
    )
    assert (decision.handoff, decision.reason) == (True, "repeated_low_confidence")


def test_escalation_is_the_reason_shown_when_a_message_has_several(policy: HandoffPolicy) -> None:
    message = "Get me a manager now, this is unacceptable, or my lawyer will be in touch."
    assert decide(policy, message).reason == "escalation"


def test_the_intent_rules_still_apply_with_a_message(policy: HandoffPolicy) -> None:
    assert decide(policy, "ok", ("platform:human_agent", 0.9)).reason == "human_agent_requested"
    assert decide(policy, "ok", ("platform:complaint", 0.9)).reason == "complaint"


@pytest.mark.parametrize(
    "message",
    [
        "What is a real estate agent's commission?",
        "How do I become a manager on my account?",
        "My manager asked me to file a claim for travel expenses, which form do I use?",
        "Can I add a second user as an account manager for our business profile?",
        "Is human error a valid defence for a late tax return?",
        "How do I contact the human resources department of my employer?",
        "Can a debt collector contact me at work?",
        "How do I file a complaint against my landlord for not returning my deposit?",
        "Can I sue my landlord for not fixing the heating?",
        "What is a chargeback and how long does it take?",
        "How do I cancel my subscription?",
        "How do I leave a review for a product?",
        "How many times can I withdraw cash per day?",
        "The app logged me out again, how do I stay signed in?",
        "It's a bit frustrating that statements only go back 3 months; can I get older ones?",
        "I'm not a robot check keeps failing, what do I do?",
        "Is your app GDPR compliant?",
        "I managed to log in, thanks!",
        "My complaint was resolved, thanks for your help!",
        "Hey there! Quick question about savings accounts!!",
        "THANK YOU SO MUCH!!!",
    ],
)
def test_hard_negatives_do_not_hand_off(policy: HandoffPolicy, message: str) -> None:
    assert decide(policy, message) == Handoff(False, None)


@pytest.mark.parametrize(
    "question",
    [
        # VADER scores the subject's words as the customer's mood (-0.66, -0.68, -0.76, -0.64)
        "What are the symptoms of breast cancer?",
        'What constitutes an "unfair" practice by a debt collector?',
        "Can a debt collector threaten to arrest me?",
        "How many times can I enter the wrong PIN before my card is blocked?",
        'What does "domestic violence" mean in law?',
        'What does "hate crime" mean in law?',
    ],
)
def test_a_question_about_a_negative_subject_does_not_hand_off(
    policy: HandoffPolicy, question: str
) -> None:
    assert score_sentiment(question).compound <= policy.negative_threshold
    assert read_signals(question).subject_question
    assert decide(policy, question) == Handoff(False, None)


@pytest.mark.parametrize(
    "message",
    [
        "Terrible, horrible, no good experience. I'm furious.",  # a statement
        "Worst. Bank. Ever.",
        "I'm furious. What is the fraud line?",  # a statement, then a question
        "Why is your app so bad and so horrible?",  # a question about the business
        "why is ur app so bad and so horrible?",  # the same, written in shorthand
        # questions that judge: the customer's mood, not a subject's words
        "Why the hell is this so terrible?",
        "Why does this stupid bank keep stealing my money?",
        "Why do I keep getting these awful scam calls?",
    ],
)
def test_negative_sentiment_about_the_customers_experience_still_hands_off(
    policy: HandoffPolicy, message: str
) -> None:
    assert score_sentiment(message).compound <= policy.negative_threshold
    assert not read_signals(message).subject_question
    assert decide(policy, message) == Handoff(True, "negative_sentiment")


def test_without_a_message_the_rules_are_the_intent_and_sentiment_ones(
    policy: HandoffPolicy,
) -> None:
    decision = policy.decide(
        intent_label=NEUTRAL_INTENT[0],
        confidence=NEUTRAL_INTENT[1],
        sentiment_compound=0.0,
        previous_turns=[],
    )
    assert decision == Handoff(False, None)


def test_typos_of_key_words_are_read_but_english_words_are_left_alone() -> None:
    assert normalise("I want to speek to a supervisr, persn, reprsentative") == (
        "i want to speak to a supervisor, person, representative"
    )
    for word in ("managed", "compliant", "writing", "wanting", "layer", "steak", "cancer"):
        assert normalise(word) == word


def test_signals_are_independent_of_each_other() -> None:
    signals = read_signals("This is the third time I'm writing. Unacceptable. Call me back!")
    assert signals.repeated_contact and signals.complaint and signals.person_requested
    assert not signals.escalation


def _rows(split: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line]
    return [row for row in rows if row["split"] == split]


def test_the_labelled_set_is_large_balanced_and_has_a_held_out_split() -> None:
    tune, test = _rows("tune"), _rows("test")
    everything = tune + test
    assert len(everything) >= 150 and len(test) >= 60
    share = sum(bool(row["handoff"]) for row in everything) / len(everything)
    assert 0.4 <= share <= 0.6
    assert not {str(row["text"]) for row in tune} & {str(row["text"]) for row in test}
    for row in everything:
        assert (row["reason"] in REASONS) if row["handoff"] else row["reason"] is None


def test_the_detector_meets_the_targets_on_the_held_out_split(policy: HandoffPolicy) -> None:
    """Recall >= 0.95 at precision >= 0.90 on the test split, from the message alone (the rules
    were tuned on the tune split only; bench/handoff.py prints the full table)."""
    tp = fp = fn = 0
    for row in _rows("test"):
        handed_off = decide(policy, str(row["text"]), ("out_of_scope", 0.0)).handoff
        tp += handed_off and bool(row["handoff"])
        fp += handed_off and not row["handoff"]
        fn += not handed_off and bool(row["handoff"])
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    assert recall >= 0.95, f"recall {recall:.3f} (tp {tp}, fn {fn})"
    assert precision >= 0.90, f"precision {precision:.3f} (tp {tp}, fp {fp})"


def test_every_reason_code_is_documented() -> None:
    privacy = (REPO / "docs" / "privacy.md").read_text(encoding="utf-8")
    section = privacy[privacy.index("## Handoff rules") :]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert documented == set(REASONS)
