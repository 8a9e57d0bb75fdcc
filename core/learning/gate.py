"""The retrain gate: a candidate replaces the current model only when it is measurably better.

Both models are scored on the same held-out rows: the base test split (the packs' own examples
neither model trained on) and the feedback split (learned examples kept out of training). The
candidate is promoted only if it is better on the feedback split and not worse than
``tolerance`` on the base split. Accuracy is top-1 over in-scope rows, the measure
``metrics.json`` reports; a label a model does not have counts as a miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from core.intents.dataset import Example
from core.intents.labels import OUT_OF_SCOPE

DEFAULT_TOLERANCE = 0.005  # half a point of base accuracy


class Predictor(Protocol):
    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Any]: ...


@dataclass(frozen=True)
class Scores:
    """One model's accuracy on each held-out split (None: the split has no in-scope rows)."""

    base_accuracy: float | None
    feedback_accuracy: float | None
    base_rows: int
    feedback_rows: int


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str]
    current: Scores
    candidate: Scores
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def top1_accuracy(model: Predictor, examples: Sequence[Example]) -> float | None:
    """Share of in-scope ``examples`` whose top label is right."""
    rows = [example for example in examples if example.label != OUT_OF_SCOPE]
    if not rows:
        return None
    predictions = model.predict([example.text for example in rows], top_k=1)
    hits = sum(p.top_k[0][0] == e.label for p, e in zip(predictions, rows, strict=True))
    return hits / len(rows)


def score(
    model: Predictor, base_test: Sequence[Example], feedback_test: Sequence[Example]
) -> Scores:
    return Scores(
        base_accuracy=top1_accuracy(model, base_test),
        feedback_accuracy=top1_accuracy(model, feedback_test),
        base_rows=sum(e.label != OUT_OF_SCOPE for e in base_test),
        feedback_rows=sum(e.label != OUT_OF_SCOPE for e in feedback_test),
    )


def decide(
    current: Scores, candidate: Scores, *, tolerance: float = DEFAULT_TOLERANCE
) -> GateDecision:
    """Promote only if better on feedback and within ``tolerance`` of current on base."""
    reasons = []
    if candidate.feedback_accuracy is None or current.feedback_accuracy is None:
        reasons.append("no held-out feedback to compare on")
    elif candidate.feedback_accuracy <= current.feedback_accuracy:
        reasons.append(f"not better on the feedback split ({candidate.feedback_accuracy:.2%} "
                       f"against {current.feedback_accuracy:.2%})")
    if candidate.base_accuracy is not None and current.base_accuracy is not None:
        if candidate.base_accuracy < current.base_accuracy - tolerance:
            reasons.append(f"worse on the base split ({candidate.base_accuracy:.2%} against "
                           f"{current.base_accuracy:.2%}, tolerance {tolerance:.2%})")
    return GateDecision(promote=not reasons, reasons=reasons, current=current,
                        candidate=candidate, tolerance=tolerance)
