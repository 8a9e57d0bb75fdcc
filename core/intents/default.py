"""The default intent model and the domain head: where they live, training them on first start."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.errors import IntentModelError
from core.intents.domain import SentenceEmbedder
from core.intents.labels import intent_labels
from core.packs.manifest import Manifest
from core.settings import Settings

log = logging.getLogger(__name__)

def default_model_dir(settings: Settings) -> Path:
    """``settings.intent_model_dir``, or ``<data_dir>/models/intents/current``."""
    return settings.intent_model_dir or settings.models_dir / "intents" / "current"


def ensure_default_model(
    settings: Settings,
    manifests: Iterable[Manifest],
    *,
    embedder: SentenceEmbedder,
) -> Path:
    """Return the default model directory, training it first if it is missing or stale.

    The default model is an intent head over ``embedder``'s query vectors (core.intents.head:
    no model pass of its own per question, trained in seconds on every example of the packs).
    Stale means its label map differs from the labels of ``manifests`` plus the platform
    intents; a model that fits is kept whatever its kind (an operator's fine-tuned model
    included). Then, given at least one pack, the domain head next to it
    (:func:`ensure_default_domain_model`, skipped when built from the same data). Both embed
    their training sentences through one cache: most of them are the same intent examples.
    """
    from core.intents.classifier import IntentClassifier
    from core.intents.dataset import examples_from_manifests
    from core.intents.head import train_intent_head

    manifests = list(manifests)
    model_dir = default_model_dir(settings)
    expected = intent_labels(manifests)
    embed = CachedEmbed(embedder)
    try:
        IntentClassifier(model_dir, expected_labels=expected)._check_label_map()
    except IntentModelError as exc:
        log.info("training the default intent model: %s", exc.message)
        result = train_intent_head(
            examples_from_manifests(manifests), out_dir=model_dir, embed=embed,
            embedder_id=embedder.model_id,
        )
        log.info("intent head: %d labels, test accuracy %.4f, embedded in %.1f s, fitted in "
                 "%.1f s", len(result.labels), result.metrics["test"].get("accuracy") or 0.0,
                 result.metrics["embedding_seconds"], result.metrics["training_seconds"])
    if manifests:  # no pack installed: no domain to decide
        ensure_default_domain_model(settings, manifests, embedder=embed)
    return model_dir


class CachedEmbed:
    """An embedder that embeds each distinct text once (texts are sorted by length in
    batches of 128 by the embedder itself); the intent head and the domain head share most of
    their training sentences."""

    def __init__(self, embedder: SentenceEmbedder) -> None:
        self.model_id = embedder.model_id
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: list[str], *, batch_size: int = 128) -> np.ndarray:
        missing = sorted({text for text in texts if text not in self._vectors})
        if missing:
            vectors = self._embedder.embed(missing, batch_size=batch_size)
            self._vectors.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts])


def ensure_default_domain_model(
    settings: Settings, manifests: Iterable[Manifest], *, embedder: SentenceEmbedder
) -> Path:
    """Build the domain head in ``<models_dir>/domain`` unless it is up to date (data hash).

    ``embedder`` must be the one the server embeds queries with: the head classifies its
    vectors.
    """
    from core.intents.domain import ensure_domain_model

    model_dir, built = ensure_domain_model(
        settings,
        manifests,
        lambda texts: embedder.embed(texts, batch_size=128),
        embedder_id=embedder.model_id,
    )
    log.info("domain model %s: %s", "built" if built else "up to date", model_dir)
    return model_dir
