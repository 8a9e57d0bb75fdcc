"""Out-of-scope calibration: a threshold on the top softmax probability.

A prediction whose top probability is below the threshold becomes ``out_of_scope``. The
threshold is chosen on the validation split and stored with the model (``calibration.json``):

- with out-of-scope examples in the validation split: the threshold maximising the mean of
  out-of-scope recall and in-scope accuracy (a correct *and* accepted prediction), so neither
  side wins just because it has more rows; ties go to the lower threshold;
- without them: the lowest threshold whose accepted in-scope predictions reach
  ``target_precision``. Candidates are the validation confidences themselves, so even a model
  that is already precise enough rejects anything less confident than every validation message.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import IntentModelError

CALIBRATION_FILE = "calibration.json"
DEFAULT_TARGET_PRECISION = 0.95


@dataclass(frozen=True)
class Calibration:
    """The stored threshold and how it was chosen."""

    threshold: float
    method: str  # "out_of_scope_examples" | "target_precision"
    target_precision: float | None = None

    def save(self, model_dir: Path) -> None:
        (model_dir / CALIBRATION_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, model_dir: Path) -> Calibration:
        path = model_dir / CALIBRATION_FILE
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise IntentModelError(f"{path}: missing or unreadable calibration ({exc})") from exc


@dataclass(frozen=True)
class ThresholdReport:
    """What a threshold does on one split."""

    in_scope_accuracy: float  # share of in-scope rows predicted correctly and accepted
    in_scope_accuracy_no_threshold: float
    in_scope_rejected: float  # share of in-scope rows wrongly sent to out_of_scope
    out_of_scope_recall: float | None  # share of out-of-scope rows rejected (None: no such rows)


def calibrate(
    confidences: np.ndarray,
    correct: np.ndarray,
    is_out_of_scope: np.ndarray,
    *,
    target_precision: float = DEFAULT_TARGET_PRECISION,
) -> Calibration:
    """Choose the threshold on validation outputs.

    Args:
        confidences: top softmax probability per validation row.
        correct: whether the top label is right (always False for out-of-scope rows).
        is_out_of_scope: rows labelled out_of_scope.
        target_precision: used only when there are no out-of-scope rows.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    oos = np.asarray(is_out_of_scope, dtype=bool)
    inscope = ~oos
    if not inscope.any():
        raise IntentModelError("cannot calibrate: the validation split has no in-scope rows")
    candidates = np.unique(conf[inscope])  # accept iff confidence >= threshold
    accepted_correct = _count_at_least(conf[inscope & correct], candidates)
    if oos.any():
        in_acc = accepted_correct / inscope.sum()
        oos_recall = _count_below(conf[oos], candidates) / oos.sum()
        score = (in_acc + oos_recall) / 2
        best = int(np.argmax(score))  # argmax returns the first, i.e. lowest, best threshold
        return Calibration(threshold=float(candidates[best]), method="out_of_scope_examples")
    accepted = _count_at_least(conf[inscope], candidates)
    precision = accepted_correct / np.maximum(accepted, 1)
    reaching = np.nonzero(precision >= target_precision)[0]
    index = int(reaching[0]) if len(reaching) else len(candidates) - 1
    return Calibration(
        threshold=float(candidates[index]),
        method="target_precision",
        target_precision=target_precision,
    )


def evaluate_threshold(
    confidences: np.ndarray, correct: np.ndarray, is_out_of_scope: np.ndarray, threshold: float
) -> ThresholdReport:
    """Out-of-scope recall and in-scope accuracy at ``threshold`` on one split."""
    conf = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    oos = np.asarray(is_out_of_scope, dtype=bool)
    inscope = ~oos
    n_in = max(int(inscope.sum()), 1)
    accepted = conf >= threshold
    return ThresholdReport(
        in_scope_accuracy=float((correct & accepted & inscope).sum() / n_in),
        in_scope_accuracy_no_threshold=float((correct & inscope).sum() / n_in),
        in_scope_rejected=float((~accepted & inscope).sum() / n_in),
        out_of_scope_recall=float((~accepted & oos).sum() / oos.sum()) if oos.any() else None,
    )


def _count_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    return len(ordered) - np.searchsorted(ordered, thresholds, side="left")


def _count_below(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(values), thresholds, side="left")
