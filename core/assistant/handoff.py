"""When to hand a conversation to a human agent, and why (stable reason codes).

Rules, first match wins (so the reason shown is the most direct one):

1. ``human_agent_requested``: the intent is ``platform:human_agent``.
2. ``complaint``: the intent is ``platform:complaint``.
3. ``negative_sentiment``: VADER compound <= the configured threshold (default -0.6).
4. ``repeated_low_confidence``: this turn and the previous turn of the same conversation were
   both low-confidence (< ``low_confidence_threshold``) or out of scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import ValidationError
from core.intents.labels import COMPLAINT_INTENT, HUMAN_AGENT_INTENT, OUT_OF_SCOPE

REASON_HUMAN_AGENT = "human_agent_requested"
REASON_COMPLAINT = "complaint"
REASON_NEGATIVE_SENTIMENT = "negative_sentiment"
REASON_REPEATED_LOW_CONFIDENCE = "repeated_low_confidence"
REASONS: tuple[str, ...] = (
    REASON_HUMAN_AGENT,
    REASON_COMPLAINT,
    REASON_NEGATIVE_SENTIMENT,
    REASON_REPEATED_LOW_CONFIDENCE,
)


@dataclass(frozen=True, slots=True)
class TurnSignal:
    """What the policy needs to know about an earlier turn of the same conversation."""

    intent_label: str
    confidence: float

    @classmethod
    def of(cls, intent_label: str, confidence: float, *, answered: bool) -> TurnSignal:
        """The signal of a turn as the rules see it: an unanswered turn counts as out of scope.

        A confident intent whose answer still came out empty ("Sorry, I can't help") is as much
        a failed turn as a low-confidence one; a request for a human or a complaint keeps its
        label, since those rules act on the label itself.
        """
        if not answered and intent_label not in (HUMAN_AGENT_INTENT, COMPLAINT_INTENT):
            return cls(OUT_OF_SCOPE, confidence)
        return cls(intent_label, confidence)


@dataclass(frozen=True, slots=True)
class Handoff:
    """The decision: hand off or not, and the reason code when it does."""

    handoff: bool
    reason: str | None = None


class HandoffPolicy:
    """Decides whether a turn goes to a human.

    Args:
        negative_threshold: compound sentiment at or below which a turn is handed off
            (``Settings.negative_sentiment_threshold``).
        low_confidence_threshold: intent confidence below which a turn counts as low-confidence.

    Raises:
        ValidationError: a threshold outside its range.
    """

    def __init__(self, negative_threshold: float = -0.6, low_confidence_threshold: float = 0.5):
        if not -1.0 <= negative_threshold <= 1.0:
            raise ValidationError(f"negative_threshold {negative_threshold!r} not in [-1, 1]")
        if not 0.0 <= low_confidence_threshold <= 1.0:
            raise ValidationError(
                f"low_confidence_threshold {low_confidence_threshold!r} not in [0, 1]"
            )
        self.negative_threshold = negative_threshold
        self.low_confidence_threshold = low_confidence_threshold

    def is_low_confidence(self, intent_label: str, confidence: float) -> bool:
        """True when the turn was out of scope or classified with low confidence."""
        return intent_label == OUT_OF_SCOPE or confidence < self.low_confidence_threshold

    def decide(
        self,
        *,
        intent_label: str,
        confidence: float,
        sentiment_compound: float,
        previous_turns: Sequence[TurnSignal],
    ) -> Handoff:
        """Decide for the current turn.

        Args:
            intent_label: the classifier's label for this turn.
            confidence: the classifier's confidence for that label.
            sentiment_compound: VADER compound score of this turn's message.
            previous_turns: earlier turns of the same conversation, oldest first.

        Returns:
            ``Handoff(True, reason)`` or ``Handoff(False, None)``.
        """
        if intent_label == HUMAN_AGENT_INTENT:
            return Handoff(True, REASON_HUMAN_AGENT)
        if intent_label == COMPLAINT_INTENT:
            return Handoff(True, REASON_COMPLAINT)
        if sentiment_compound <= self.negative_threshold:
            return Handoff(True, REASON_NEGATIVE_SENTIMENT)
        if previous_turns and self.is_low_confidence(intent_label, confidence):
            last = previous_turns[-1]
            if self.is_low_confidence(last.intent_label, last.confidence):
                return Handoff(True, REASON_REPEATED_LOW_CONFIDENCE)
        return Handoff(False, None)
