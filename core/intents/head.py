"""The intent head: a linear softmax layer over the query embedder's vectors.

Every question is embedded once for retrieval anyway (the unit-normalised MiniLM vector of
``SearchService.embed_queries``). The intent head classifies that same vector, so answering a
question costs one transformer pass instead of two (the fine-tuned classifier of
:mod:`core.intents.training` runs its own MiniLM), and training is a logistic regression over
vectors rather than a fine-tune: seconds instead of minutes, which is what lets the first
``make run`` and every retrain (core/learning) use *all* of a pack's examples rather than a
sample. Measured on BANKING77's official test split with the built-in packs' examples
(BENCHMARKS.md "Intents"): the head is ahead of the default fine-tune that was trained on 24
examples per label, because it can afford the 60 the manifests hold.

A head directory is a model directory like the fine-tune's (``label_map.json``,
``calibration.json``, ``training_config.json``, ``metrics.json``) plus ``head.npz``
(``weight`` (labels, dim), ``bias`` (labels,); no pickle). ``training_config.json`` says
``"kind": "embedding-head"`` and names the embedder whose vectors it classifies: a head is only
served with that embedder (:class:`core.intents.classifier.IntentClassifier` checks it).
"""

from __future__ import annotations

import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import IntentModelError, ValidationError
from core.intents.calibration import DEFAULT_TARGET_PRECISION, calibrate
from core.intents.dataset import Example, validate_examples

HEAD_KIND = "embedding-head"
HEAD_FILE = "head.npz"
DEFAULT_C = 10.0  # BANKING77 test, built-in examples: C=1 88.5%, 10 91.1%, 30 91.1%, 100 90.7%

Embed = Callable[[list[str]], np.ndarray]
"""``texts -> float32 (n, dim)`` unit rows: the query embedder."""


@dataclass(frozen=True)
class IntentHead:
    """Weights of a trained head; :meth:`probabilities` is a matrix product and a softmax."""

    labels: tuple[str, ...]
    weight: np.ndarray  # (len(labels), dim) float32
    bias: np.ndarray  # (len(labels),) float32

    @property
    def dimension(self) -> int:
        return int(self.weight.shape[1])

    def probabilities(self, vectors: Any) -> np.ndarray:
        """``(n, len(labels))`` softmax probabilities of ``(n, dim)`` (or one ``(dim,)``) vectors.

        Raises:
            ValidationError: the vectors are not of the head's dimension.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            raise ValidationError(
                f"the intent head classifies {self.dimension}-dimensional vectors, got shape "
                f"{matrix.shape}"
            )
        logits = matrix @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, model_dir: Path) -> None:
        np.savez(model_dir / HEAD_FILE, weight=self.weight, bias=self.bias)

    @classmethod
    def load(cls, model_dir: Path, labels: Sequence[str]) -> IntentHead:
        """Read ``head.npz``; ``labels`` is the directory's label map.

        Raises:
            IntentModelError: missing, unreadable, or not shaped for ``labels``.
        """
        path = Path(model_dir) / HEAD_FILE
        try:
            with np.load(path, allow_pickle=False) as arrays:
                weight = np.ascontiguousarray(arrays["weight"], dtype=np.float32)
                bias = np.ascontiguousarray(arrays["bias"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise IntentModelError(f"{path}: missing or unreadable intent head ({exc})") from exc
        if weight.ndim != 2 or weight.shape[0] != len(labels) or bias.shape != (len(labels),):
            raise IntentModelError(
                f"{path}: weights {weight.shape} / bias {bias.shape} do not fit the "
                f"{len(labels)} labels of the label map"
            )
        return cls(tuple(labels), weight, bias)


@dataclass(frozen=True)
class HeadConfig:
    """Every knob of one head training run; stored as training_config.json."""

    kind: str = HEAD_KIND
    embedder: str = ""  # the model id of the embedder whose vectors the head classifies
    c: float = DEFAULT_C  # inverse L2 strength of the logistic regression
    seed: int = 42
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    target_precision: float = DEFAULT_TARGET_PRECISION


def fit_head(vectors: np.ndarray, labels: Sequence[str], *, c: float = DEFAULT_C,
             seed: int = 42) -> IntentHead:
    """A multinomial logistic regression (scikit-learn, lbfgs) on unit query vectors."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    model.fit(np.asarray(vectors, dtype=np.float32), list(labels),
              sample_weight=small_label_weights(labels))
    weight, bias = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # one logit for the second class: softmax([0, z]) = sigmoid
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return IntentHead(
        tuple(str(label) for label in model.classes_),
        np.ascontiguousarray(weight, dtype=np.float32),
        np.ascontiguousarray(bias, dtype=np.float32),
    )


def small_label_weights(labels: Sequence[str]) -> np.ndarray:
    """Per-row weights that lift every label with fewer examples than the median label up to
    the median's total weight (the others keep weight 1).

    A new intent learned from 16 corrections is then not drowned by intents with 130, while
    the well-populated labels stay exactly as plain maximum likelihood fits them. Measured on
    BANKING77 with 10 intents learned from 16 examples each (embeddings cached): plain 64% on
    the new intents, fully balanced classes 83% but the others move with it, this 81%, and with
    self-training (core/learning/self_training.py) 86% with the others 0.45 points down.
    """
    counts = Counter(labels)
    median = float(np.median(list(counts.values())))
    return np.array([max(1.0, median / counts[label]) for label in labels], dtype=np.float64)


def train_intent_head(
    examples: Sequence[Example],
    *,
    out_dir: Path,
    embed: Embed,
    embedder_id: str,
    c: float = DEFAULT_C,
    seed: int = 42,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    test_examples: Sequence[Example] | None = None,
) -> Any:
    """Fit a head on the embedded examples, calibrate out-of-scope, write a model directory.

    The same splits and calibration as the fine-tune (:func:`core.intents.training.
    train_intent_model`): 10% of each label for validation (calibration), 10% for test unless
    ``test_examples`` is given; ``out_of_scope`` rows only calibrate. The directory is written
    beside ``out_dir`` and renamed into place when complete.

    Returns:
        a :class:`core.intents.training.TrainingResult`.
    Raises:
        TrainingDataError: bad rows (see ``core.intents.dataset``).
        ValidationError: ``c`` is not positive.
    """
    from core.intents.training import (
        LABEL_MAP_FILE,
        METRICS_FILE,
        TRAINING_CONFIG_FILE,
        TrainingResult,
        prediction_outcomes,
        split_metrics,
        staged_model_dir,
        training_record,
        training_splits,
        write_json,
    )

    validate_examples(examples)
    if c <= 0:
        raise ValidationError(f"c must be > 0, got {c}")
    config = HeadConfig(embedder=embedder_id, c=c, seed=seed, target_precision=target_precision,
                        test_fraction=0.0 if test_examples is not None else 0.1)
    train, val, test, labels = training_splits(
        examples, fractions=(config.validation_fraction, config.test_fraction), seed=seed,
        test_examples=test_examples,
    )

    started = time.perf_counter()
    texts = sorted({e.text for e in [*train, *val, *test]})
    vectors = dict(zip(texts, np.asarray(embed(texts), dtype=np.float32), strict=True))
    embedded = time.perf_counter()
    head = fit_head(np.stack([vectors[e.text] for e in train]), [e.label for e in train],
                    c=c, seed=seed)
    seconds = time.perf_counter() - embedded
    assert list(head.labels) == labels  # scikit-learn orders classes as sorted() does
    label2id = {label: index for index, label in enumerate(labels)}

    def probabilities(split: list[Example]) -> np.ndarray:
        if not split:
            return np.zeros((0, len(labels)), dtype=np.float32)
        return head.probabilities(np.stack([vectors[e.text] for e in split]))

    val_probs = probabilities(val)
    calibration = calibrate(*prediction_outcomes(val_probs, val, label2id),
                            target_precision=target_precision)
    metrics: dict[str, Any] = {
        "calibration": asdict(calibration),
        "embedding_seconds": round(embedded - started, 1),
        "training_seconds": round(seconds, 1),
        "validation": split_metrics(val_probs, val, labels, calibration.threshold),
        "test": split_metrics(probabilities(test), test, labels, calibration.threshold),
    }
    out_dir = Path(out_dir)
    with staged_model_dir(out_dir) as staging:
        head.save(staging)
        calibration.save(staging)
        write_json(staging / LABEL_MAP_FILE, {"labels": labels})
        write_json(staging / METRICS_FILE, metrics)
        write_json(staging / TRAINING_CONFIG_FILE,
                   training_record(asdict(config), examples, train, val, test))
    return TrainingResult(model_dir=out_dir, labels=labels, metrics=metrics)
