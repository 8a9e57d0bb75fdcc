"""The handoff detector's cost grows linearly with the message: a hostile 4,000-character
question cannot stall the process.

Each shape repeats a fragment that a pattern starts on (a subject before a threat, a verb
before a person, a word before a bounded gap, a long word, punctuation runs), timed at 1,000
and 4,000 characters in CPU time of the calling thread, best of a few runs. 4x the input may
cost at most 6x the time (linear growth with room for noise), and 4,000 characters stay well
under the budget.
"""

from __future__ import annotations

import time

import pytest

from core.assistant.handoff import HandoffPolicy
from core.assistant.signals import read_signals

SMALL, LARGE = 1_000, 4_000
MAX_RATIO = 6.0
NOISE_FLOOR_S = 0.005  # below this the clock and the machine's noise dominate
BUDGET_S = 0.25

SHAPES = {
    "threat-subject": "i'm going to ",
    "first-person": "i ",
    "contraction": "we've ",
    "verb-before-person": "speak to ",
    "request-before-person": "can you get a ",
    "contact-verb-gap": "called ",
    "complaint-word": "complain about my ",
    "nobody": "no one ",
    "is-there": "is there ",
    "same": "same ",
    "lawyer": "my lawyer ",
    "report": "report ",
    "long-word": "a",
    "key-word-typos": "agnet reprsentative supervisr ",
    "shouting": "AAAA ",
    "exclamations": "!",
    "question-runs": "?!",
    "held-letters": "sooooo ",
    "mixed": "Unacceptable!! I'll call my lawyer, speak to a manager, 3 times again ",
}


def _text(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def _best_time(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        read_signals(text)
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.parametrize("unit", SHAPES.values(), ids=SHAPES.keys())
def test_signals_take_linear_time(unit: str) -> None:
    small = _best_time(_text(unit, SMALL), runs=1)
    assert small < BUDGET_S, f"{SMALL} chars of {unit!r} took {small:.3f} s"
    small = min(small, _best_time(_text(unit, SMALL)))
    large = _best_time(_text(unit, LARGE))
    assert large < BUDGET_S, f"{LARGE} chars of {unit!r} took {large:.3f} s"
    assert large <= MAX_RATIO * max(small, NOISE_FLOOR_S), (
        f"{unit!r}: {SMALL} chars {small:.4f} s, {LARGE} chars {large:.4f} s"
    )


def test_a_hostile_message_still_gets_a_decision() -> None:
    message = _text(SHAPES["mixed"], LARGE)
    decision = HandoffPolicy().decide(
        intent_label="out_of_scope", confidence=0.1, sentiment_compound=-0.2,
        previous_turns=[], message=message,
    )
    assert (decision.handoff, decision.reason) == (True, "escalation")
