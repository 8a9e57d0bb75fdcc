"""When to hand a conversation to a human agent, and why (stable reason codes).

The decision reads the message itself (:func:`core.assistant.signals.read_signals`), not only
the top intent: a request for a person, a complaint, repeated contact or an escalation anywhere
in the message hands off whatever the classifier made of it. Rules, first match wins (the most
severe first, so the reason shown is the one a human should act on):

1. ``escalation``: the message threatens to go outside: a lawyer, legal action, a regulator or
   ombudsman, a chargeback, closing the account, a public review.
2. ``human_agent_requested``: the intent is ``platform:human_agent``, or the message asks for a
   person (agent, human, representative, supervisor, manager, someone real, call me back,
   escalate this, "not a bot", ...).
3. ``complaint``: the intent is ``platform:complaint``, or the message complains about the
   service (formal complaint, unacceptable, disgusted, still not fixed, ...).
4. ``repeated_contact``: the message says the customer has been here before (called three
   times, my fourth email, still waiting, nobody got back to me, writing again, ...).
5. ``negative_sentiment``: VADER compound <= the configured threshold (default -0.6), unless
   the message only asks about a subject (``subject_question``: the sentiment is the
   subject's, as in "What are the symptoms of breast cancer?"); or, with the message, strong
   frustration: explicit ("fed up", "livid", "at my wits' end"); or one
   cue (shouting, "!!!", a word repeated, a held letter, "are you kidding", "unbelievable")
   with a compound at or below half the threshold; or two cues with a compound that is not
   positive (any compound when one of them is an exasperated phrase).
6. ``repeated_low_confidence``: this turn and the previous turn of the same conversation were
   both low-confidence (< ``low_confidence_threshold``) or out of scope.

Without ``message`` the policy applies the intent, sentiment and conversation rules only (the
rules before the message signals, which bench/handoff.py measures as the baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.assistant.sentiment import POSITIVE_CUTOFF
from core.assistant.signals import MessageSignals, read_signals
from core.errors import ValidationError
from core.intents.labels import COMPLAINT_INTENT, HUMAN_AGENT_INTENT, OUT_OF_SCOPE

REASON_ESCALATION = "escalation"
REASON_HUMAN_AGENT = "human_agent_requested"
REASON_COMPLAINT = "complaint"
REASON_REPEATED_CONTACT = "repeated_contact"
REASON_NEGATIVE_SENTIMENT = "negative_sentiment"
REASON_REPEATED_LOW_CONFIDENCE = "repeated_low_confidence"
REASONS: tuple[str, ...] = (
    REASON_ESCALATION,
    REASON_HUMAN_AGENT,
    REASON_COMPLAINT,
    REASON_REPEATED_CONTACT,
    REASON_NEGATIVE_SENTIMENT,
    REASON_REPEATED_LOW_CONFIDENCE,
)
"""Every reason code, in rule order."""

FOLLOW_UP_MESSAGE = (
    "I've passed this conversation to our support team: a person will follow up with you "
    "here as soon as possible."
)
"""What a handed-off answer says (``Assistant.ask`` puts it in the answer text)."""


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

    def _frustrated(self, signals: MessageSignals, compound: float) -> bool:
        """Strong frustration that the compound score alone does not reach."""
        if signals.frustration:
            return True
        cues = signals.intensity + int(signals.exasperation)
        if cues >= 1 and compound <= self.negative_threshold / 2:
            return True
        # VADER reads "are you kidding" or "serious" as positive: exasperation overrides it.
        return cues >= 2 and (compound < POSITIVE_CUTOFF or signals.exasperation)

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
        message: str | None = None,
    ) -> Handoff:
        """Decide for the current turn.

        Args:
            intent_label: the classifier's label for this turn.
            confidence: the classifier's confidence for that label.
            sentiment_compound: VADER compound score of this turn's message.
            previous_turns: earlier turns of the same conversation, oldest first.
            message: the customer's message; its signals hand off whatever the intent
                (None: the intent, sentiment and conversation rules only).

        Returns:
            ``Handoff(True, reason)`` or ``Handoff(False, None)``.
        """
        signals = read_signals(message) if message else MessageSignals()
        if signals.escalation:
            return Handoff(True, REASON_ESCALATION)
        if intent_label == HUMAN_AGENT_INTENT or signals.person_requested:
            return Handoff(True, REASON_HUMAN_AGENT)
        if intent_label == COMPLAINT_INTENT or signals.complaint:
            return Handoff(True, REASON_COMPLAINT)
        if signals.repeated_contact:
            return Handoff(True, REASON_REPEATED_CONTACT)
        negative = sentiment_compound <= self.negative_threshold
        if (negative and not signals.subject_question) or self._frustrated(
            signals, sentiment_compound
        ):
            return Handoff(True, REASON_NEGATIVE_SENTIMENT)
        if previous_turns and self.is_low_confidence(intent_label, confidence):
            last = previous_turns[-1]
            if self.is_low_confidence(last.intent_label, last.confidence):
                return Handoff(True, REASON_REPEATED_LOW_CONFIDENCE)
        return Handoff(False, None)
