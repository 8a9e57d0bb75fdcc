"""Intent classification: fine-tune the bundled MiniLM, calibrate out-of-scope, serve.

Cheap to import: torch and transformers load inside the functions that train or predict.
"""

from core.intents.calibration import Calibration
from core.intents.classifier import IntentClassifier, Prediction
from core.intents.dataset import Example, examples_from_manifests, load_examples
from core.intents.default import (
    default_model_dir,
    ensure_default_domain_model,
    ensure_default_model,
)
from core.intents.domain import (
    DomainModel,
    default_domain_dir,
    ensure_domain_model,
    load_domain_model,
    train_domain_model,
)
from core.intents.labels import OUT_OF_SCOPE, intent_labels, pack_id_of
from core.intents.training import TrainingResult, train_intent_model

__all__ = [
    "OUT_OF_SCOPE",
    "Calibration",
    "DomainModel",
    "Example",
    "IntentClassifier",
    "Prediction",
    "TrainingResult",
    "default_domain_dir",
    "default_model_dir",
    "ensure_default_domain_model",
    "ensure_default_model",
    "ensure_domain_model",
    "examples_from_manifests",
    "intent_labels",
    "load_domain_model",
    "load_examples",
    "pack_id_of",
    "train_domain_model",
    "train_intent_model",
]
