"""The default intent model and the domain head: where they live, training them on first start."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from core.errors import IntentModelError
from core.intents.domain import SentenceEmbedder
from core.intents.labels import intent_labels
from core.packs.manifest import Manifest
from core.settings import Settings

log = logging.getLogger(__name__)

# Small on purpose: `make run` trains this on first start on a 2-core CPU in a few minutes
# (the four built-in packs have ~140 labels: ~3,400 examples, ~700 steps at about 4 steps/s
# on an idle machine). The head starts from a linear probe (train_intent_model's default), so
# a moderate learning rate refines it; a high one first undoes the probe (docs/intents.md).
DEFAULT_MAX_PER_LABEL = 24
DEFAULT_EPOCHS = 8
DEFAULT_LEARNING_RATE = 1e-4


def default_model_dir(settings: Settings) -> Path:
    """``settings.intent_model_dir``, or ``<data_dir>/models/intents/current``."""
    return settings.intent_model_dir or settings.models_dir / "intents" / "current"


def ensure_default_model(
    settings: Settings,
    manifests: Iterable[Manifest],
    *,
    max_per_label: int | None = DEFAULT_MAX_PER_LABEL,
    epochs: int = DEFAULT_EPOCHS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    embedder: SentenceEmbedder | None = None,
) -> Path:
    """Return the default model directory, training it first if it is missing or stale.

    Stale means its label map differs from the labels of ``manifests`` plus the platform
    intents. Training shows a progress bar and writes atomically. Then, given the query
    ``embedder`` (``packdesk prepare`` passes the ``packdesk_embedder`` plugin's) and at least
    one pack, the domain head next to it (:func:`ensure_default_domain_model`, skipped when
    built from the same data).
    """
    from core.intents.classifier import IntentClassifier
    from core.intents.dataset import examples_from_manifests
    from core.intents.training import train_intent_model

    manifests = list(manifests)
    model_dir = default_model_dir(settings)
    expected = intent_labels(manifests)
    try:
        IntentClassifier(model_dir, expected_labels=expected)._check_label_map()
    except IntentModelError as exc:
        log.info("training the default intent model: %s", exc.message)
        train_intent_model(
            examples_from_manifests(manifests),
            out_dir=model_dir,
            epochs=epochs,
            max_per_label=max_per_label,
            learning_rate=learning_rate,
        )
    if embedder is not None and manifests:  # no pack installed: no domain to decide
        ensure_default_domain_model(settings, manifests, embedder=embedder)
    return model_dir


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
