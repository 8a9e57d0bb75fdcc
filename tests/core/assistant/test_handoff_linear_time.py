"""The handoff detector's cost grows linearly with the message: a hostile 4,000-character
question cannot stall the process.

Each shape repeats a fragment that a pattern starts on (a subject before a threat, a verb
before a person, a word before a bounded gap, a long word, punctuation runs), or is one long
run of a character, timed at 1,000
and 4,000 characters by ``tests.linear_time``: 4x the input may cost at most 6x the time, and
4,000 characters stay well under the budget.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from core.assistant.handoff import HandoffPolicy
from core.assistant.signals import read_signals
from tests.linear_time import LARGE, assert_linear_in, repeated

BUDGET_S = 0.25

# Fragments a pattern starts on, repeated to the length timed.
UNITS = {
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
# One long run of a character, then a letter and "?" (a message ending in "?" is read for
# statements): a pattern that can start at every character of the run and fail at its end
# scans the run once per character.
RUN_MARKS = {"exclamations": "!", "full-stops": ".", "question-marks": "?", "letters": "a"}

SHAPES: dict[str, Callable[[int], str]] = {
    **{name: functools.partial(repeated, unit) for name, unit in UNITS.items()},
    **{f"one-run-of-{name}": (lambda length, m=mark: m * (length - 2) + "a?")
       for name, mark in RUN_MARKS.items()},
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_signals_take_linear_time(shape: Callable[[int], str]) -> None:
    assert_linear_in(read_signals, shape, BUDGET_S)


def test_a_hostile_message_still_gets_a_decision() -> None:
    message = repeated(UNITS["mixed"], LARGE)
    decision = HandoffPolicy().decide(
        intent_label="out_of_scope", confidence=0.1, sentiment_compound=-0.2,
        previous_turns=[], message=message,
    )
    assert (decision.handoff, decision.reason) == (True, "escalation")
