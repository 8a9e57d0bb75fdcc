"""Serving: load a trained intent model directory and classify customer messages.

Two kinds of model directory serve the same way: the fine-tuned MiniLM classifier
(core.intents.training; runs its own transformer pass) and the intent head over the query
embedder's vectors (core.intents.head, the default since it costs no pass of its own: the
pipeline hands it the vector it already computed for retrieval, :meth:`predict_vectors`).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import IntentModelError, ValidationError
from core.intents.calibration import Calibration
from core.intents.head import HEAD_KIND, Embed, IntentHead
from core.intents.labels import OUT_OF_SCOPE, builtin_platform_labels, pack_id_of
from core.intents.training import LABEL_MAP_FILE, TRAINING_CONFIG_FILE

RETRAIN_HINT = "run `packdesk intents train` to train a model for the installed packs"


@dataclass(frozen=True)
class Prediction:
    """One message's intent.

    ``label`` is ``out_of_scope`` when ``confidence`` (the top softmax probability) is below
    the model's calibrated threshold; ``top_k`` always lists the best trained labels.
    """

    label: str
    pack_id: str | None  # None for platform intents and out_of_scope
    confidence: float
    top_k: list[tuple[str, float]]


class IntentClassifier:
    """A trained intent model. ``__init__`` is cheap; ``warm_up()`` loads it (once).

    Thread-safe: one lock serialises tokenisation and the forward pass (the fast tokenizer
    is not safe to call concurrently, and torch already uses every core for one batch).
    A head needs no lock: it is a matrix product over vectors its caller computed.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        expected_labels: Collection[str] | None = None,
        device: str | None = None,
        backend: str = "torch",
        onnx_cache: Path | None = None,
        embed: Embed | None = None,
        embedder_id: str | None = None,
    ) -> None:
        """Args:
        expected_labels: the installed packs' labels; a model trained for others is refused.
        device: torch device (torch backend).
        backend: ``torch``, ``onnx`` or ``onnx-int8`` (core.onnx_backend; the ONNX graph is
            exported from this model's weights on first load and cached in ``onnx_cache``).
            A head has no transformer of its own: the embedder's backend applies.
        embed: the query embedder (texts -> unit vectors); a head classifies its vectors, so
            :meth:`predict` on a head needs it (:meth:`predict_vectors` does not).
        embedder_id: the query embedder's model id; a head trained on another embedder's
            vectors is refused.
        """
        from core.onnx_backend.export import backend_problem

        problem = backend_problem(backend, onnx_cache)
        if problem:
            raise ValidationError(problem)
        self.backend = backend
        self._onnx_cache = onnx_cache
        self.model_dir = Path(model_dir)
        self.expected_labels = set(expected_labels) if expected_labels is not None else None
        self.device = device
        self._lock = threading.Lock()
        self._embed = embed
        self._embedder_id = embedder_id
        self._kind: str | None = None
        self._model: Any = None  # a transformer, an OnnxRunner or an IntentHead
        self._tokenizer: Any = None
        self._labels: list[str] = []
        self._threshold = 0.0
        self._max_length = 64

    @property
    def labels(self) -> list[str]:
        self.warm_up()
        return list(self._labels)

    @property
    def threshold(self) -> float:
        self.warm_up()
        return self._threshold

    @property
    def reads_query_vector(self) -> bool:
        """True for a head: classify the question's query vector (:meth:`predict_vectors`)
        instead of its text, so no model pass of its own runs."""
        return self.kind == HEAD_KIND

    @property
    def kind(self) -> str:
        """``embedding-head`` or ``fine-tuned`` (training_config.json, read once, no weights)."""
        if self._kind is None:
            self._kind = str(self._read_config().get("kind", "fine-tuned"))
        return self._kind

    def warm_up(self) -> None:
        """Load weights, tokenizer, label map and threshold; later calls do nothing.

        Raises:
            IntentModelError: the directory is missing or incomplete, or its label map does
                not match ``expected_labels`` (the installed packs changed: retrain).
        """
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            labels = self._check_label_map()
            threshold = Calibration.load(self.model_dir).threshold
            max_length = self._read_max_length()
            if self.reads_query_vector:
                model, tokenizer = self._load_head(labels), None
            else:
                model, tokenizer = self._load_weights()
            self._labels, self._threshold, self._max_length = labels, threshold, max_length
            self._tokenizer = tokenizer
            self._model = model  # last: its presence marks the classifier as warm

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Prediction]:
        """Classify a batch of messages.

        Inputs longer than the model's ``max_length`` tokens (64 by default) are truncated:
        the intent of a customer message shows in its first sentences.

        Raises:
            ValidationError: a text is empty or not a string, or top_k < 1.
        """
        if isinstance(texts, str):
            raise ValidationError("predict takes a list of texts, got a single string")
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValidationError(f"text {position} is empty (got {text!r})")
        if top_k < 1:
            raise ValidationError(f"top_k must be >= 1, got {top_k}")
        self.warm_up()
        if not texts:
            return []
        if isinstance(self._model, IntentHead):
            if self._embed is None:
                raise IntentModelError(f"the intent head in {self.model_dir} classifies query "
                                       "vectors: it needs the query embedder to classify text")
            return self._ranked(self._model.probabilities(self._embed(list(texts))), top_k)
        return self._ranked(self._probabilities(list(texts)), top_k)

    def predict_vectors(self, vectors: Any, top_k: int = 3) -> list[Prediction]:
        """Classify ``(n, dim)`` query vectors (a head only; microseconds, no lock).

        Raises:
            IntentModelError: this model classifies text, not vectors.
            ValidationError: vectors of another dimension, or top_k < 1.
        """
        if top_k < 1:
            raise ValidationError(f"top_k must be >= 1, got {top_k}")
        self.warm_up()
        if not isinstance(self._model, IntentHead):
            raise IntentModelError(f"the intent model in {self.model_dir} is a fine-tuned "
                                   "classifier: it classifies text, not query vectors")
        return self._ranked(self._model.probabilities(vectors), top_k)

    def predict_vector(self, vector: Any, top_k: int = 3) -> Prediction | None:
        """One question's prediction from its query vector, or None when this model classifies
        text (the caller then classifies the text: :meth:`predict`)."""
        if not self.reads_query_vector:
            return None
        return self.predict_vectors([vector], top_k)[0]

    def _ranked(self, probs: Any, top_k: int) -> list[Prediction]:
        k = min(top_k, len(self._labels))
        predictions = []
        for row in probs:
            order = row.argsort()[::-1][:k]
            ranked = [(self._labels[i], float(row[i])) for i in order]
            best, confidence = ranked[0]
            label = best if confidence >= self._threshold else OUT_OF_SCOPE
            predictions.append(Prediction(label=label, pack_id=pack_id_of(label),
                                          confidence=confidence, top_k=ranked))
        return predictions

    def _probabilities(self, texts: list[str]) -> Any:
        if self.backend != "torch":  # self._model is an OnnxRunner (thread-safe itself)
            import numpy as np

            from core.onnx_backend.runner import softmax

            chunks = [softmax(self._model.run(texts[start : start + 64])[0])
                      for start in range(0, len(texts), 64)]
            return np.concatenate(chunks)
        from core.intents.inference import predict_proba

        with self._lock:
            return predict_proba(self._model, self._tokenizer, texts, max_length=self._max_length)

    def _check_label_map(self) -> list[str]:
        """Read the label map (no weights) and compare it with ``expected_labels``."""
        labels = self._read_labels()
        # The built-in platform intents belong to every deployment, whether or not a pack
        # declares them, so they never make a model stale (either way round).
        builtin = builtin_platform_labels()
        have = set(labels) - builtin
        want = self.expected_labels - builtin if self.expected_labels is not None else have
        if have != want:
            missing = sorted(want - have)
            extra = sorted(have - want)
            raise IntentModelError(
                f"intent model {self.model_dir} does not match the installed packs "
                f"(missing labels: {_few(missing)}; labels of removed packs: {_few(extra)}); "
                f"{RETRAIN_HINT}"
            )
        return labels

    def _read_labels(self) -> list[str]:
        path = self.model_dir / LABEL_MAP_FILE
        if not path.is_file():
            raise IntentModelError(f"no intent model at {self.model_dir} ({path.name} missing); "
                                   f"{RETRAIN_HINT}")
        try:
            labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IntentModelError(f"{path}: unreadable label map ({exc}); {RETRAIN_HINT}") from exc
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise IntentModelError(f"{path}: labels must be a list of strings; {RETRAIN_HINT}")
        return labels

    def _read_config(self) -> dict[str, Any]:
        try:
            config = json.loads((self.model_dir / TRAINING_CONFIG_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return config if isinstance(config, dict) else {}

    def _read_max_length(self) -> int:
        try:
            return int(self._read_config().get("max_length", 64))
        except (TypeError, ValueError):
            return 64

    def _load_head(self, labels: list[str]) -> IntentHead:
        trained_on = self._read_config().get("embedder")
        if self._embedder_id is not None and trained_on != self._embedder_id:
            raise IntentModelError(
                f"the intent head in {self.model_dir} classifies vectors of embedder "
                f"{trained_on!r}, but queries are embedded with {self._embedder_id!r}; "
                f"{RETRAIN_HINT}"
            )
        return IntentHead.load(self.model_dir, labels)

    def _load_weights(self) -> tuple[Any, Any]:
        if self.backend != "torch":
            runner = self._load_onnx()
            return runner, None  # the runner tokenises itself
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        import core.intents.modeling  # noqa: F401  registers the mean-pooling model type

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            model = AutoModelForSequenceClassification.from_pretrained(self.model_dir)
        except (OSError, ValueError) as exc:
            raise IntentModelError(f"cannot load intent model from {self.model_dir}: {exc}; "
                                   f"{RETRAIN_HINT}") from exc
        if model.config.num_labels != len(self._read_labels()):
            raise IntentModelError(f"{self.model_dir}: weights have {model.config.num_labels} "
                                   f"classes but the label map has {len(self._read_labels())}")
        model.eval()
        if self.device:
            model.to(self.device)
        return model, tokenizer

    def _load_onnx(self) -> Any:
        """An ONNX Runtime runner of this model (exported on first use, then cached)."""
        from transformers import AutoConfig

        from core.onnx_backend import OnnxRunner, onnx_model

        try:
            classes = AutoConfig.from_pretrained(self.model_dir).num_labels
            path = onnx_model(
                self.model_dir,
                output="logits",
                load_model=functools.partial(_classifier_for_export, str(self.model_dir)),
                cache_root=self._onnx_cache,  # type: ignore[arg-type]  # checked in __init__
                quantized=self.backend == "onnx-int8",
            )
            runner = OnnxRunner(path, self.model_dir, max_length=self._read_max_length())
        except (OSError, ValueError) as exc:
            raise IntentModelError(f"cannot load intent model from {self.model_dir}: {exc}; "
                                   f"{RETRAIN_HINT}") from exc
        labels = len(self._read_labels())
        if classes != labels:
            raise IntentModelError(f"{self.model_dir}: weights have {classes} classes but the "
                                   f"label map has {labels}")
        return runner


def _classifier_for_export(model_dir: str) -> Any:
    """A fine-tuned intent model as torch builds it, in the ONNX export process."""
    from transformers import AutoModelForSequenceClassification

    import core.intents.modeling  # noqa: F401  registers the mean-pooling model type

    return AutoModelForSequenceClassification.from_pretrained(model_dir)


def _few(labels: list[str], limit: int = 10) -> str:
    return str(labels[:limit]) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")
