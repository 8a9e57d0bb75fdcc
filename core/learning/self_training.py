"""Self-training: unlabelled conversation turns that a candidate confidently gives a new intent.

People label a few turns of a new intent (feedback, handoff resolutions); the conversations hold
many more questions of it that nobody labelled. After a first fit on the labelled data, the
candidate classifies the newest unlabelled turns, and a turn it gives one of the *new* labels
(labels no pack declares, which people taught in this dataset) with at least ``min_confidence``
becomes a pseudo-labelled example; the candidate is then fitted once more with them. Measured on
BANKING77 (bench/learning.py): 16 labelled questions per new intent reach about 83% on its test
messages with an intent head; with the pseudo-labelled turns, more (BENCHMARKS.md "Learning").

The same safety rules as labelled examples, in a form that fits a model's labels:

- only new labels, and only texts neither the base data nor the learned examples hold (case
  and spacing ignored), one example per distinct text;
- one account adds at most ``max_per_account`` pseudo-labelled examples to a label (its most
  confident ones), so one account's traffic cannot make a label;
- nothing is held out of the gate's feedback split for them: the gate still compares models on
  held-out *human* labels only, so a candidate that pseudo-labelled badly is refused there.
Turns of an account that deleted its data are gone with them; each example names its turn.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from core.intents.dataset import Example
from core.learning.dataset import normalise
from core.learning.feedback import UnlabelledTurn

DEFAULT_MIN_CONFIDENCE = 0.5
DEFAULT_MAX_PER_ACCOUNT = 50
DEFAULT_TURN_LIMIT = 20_000


@dataclass(frozen=True)
class PseudoLabelled:
    turn_id: int
    account_id: str
    text: str
    label: str
    confidence: float

    def example(self) -> Example:
        return Example(text=self.text, label=self.label, source=f"turn {self.turn_id} (self)")


Classify = Callable[[list[str]], Sequence[tuple[str, float]]]
"""``texts -> (top label, its probability)`` per text: the first-fit candidate."""


def pseudo_label(
    turns: Sequence[UnlabelledTurn],
    classify: Classify,
    *,
    labels: Collection[str],
    known_texts: Collection[str],
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    max_per_account: int = DEFAULT_MAX_PER_ACCOUNT,
) -> list[PseudoLabelled]:
    """The turns ``classify`` confidently gives one of ``labels``, under the module's rules.

    Args:
        labels: the new labels that may be pseudo-labelled.
        known_texts: normalised texts already in the base data or the learned examples.
    """
    known = set(known_texts)
    fresh: dict[str, UnlabelledTurn] = {}
    for turn in turns:
        key = normalise(turn.text)
        if key and key not in known and key not in fresh:
            fresh[key] = turn
    if not fresh or not labels:
        return []
    candidates = list(fresh.values())
    predictions = classify([turn.text for turn in candidates])
    chosen: dict[tuple[str, str], list[PseudoLabelled]] = defaultdict(list)
    for turn, (label, confidence) in zip(candidates, predictions, strict=True):
        if label in labels and confidence >= min_confidence:
            chosen[(turn.account_id, label)].append(
                PseudoLabelled(turn.turn_id, turn.account_id, turn.text, label, confidence)
            )
    result: list[PseudoLabelled] = []
    for group in chosen.values():
        group.sort(key=lambda item: (-item.confidence, item.turn_id))
        result.extend(group[:max_per_account])
    return sorted(result, key=lambda item: item.turn_id)
