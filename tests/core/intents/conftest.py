"""One tiny intent model per test session: the platform intents, trained in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.intents import IntentClassifier
from core.settings import Settings
from tests.conftest import train_platform_model

# Paraphrases never seen in training: held-out accuracy must be well above chance (1/5).
HELD_OUT = [
    ("hello, good to meet you", "platform:greeting"),
    ("hi there!", "platform:greeting"),
    ("thank you very much for this", "platform:thanks"),
    ("thanks, that's really helpful", "platform:thanks"),
    ("goodbye and have a good evening", "platform:goodbye"),
    ("ok I'm leaving now, bye bye", "platform:goodbye"),
    ("please let me speak to a human being", "platform:human_agent"),
    ("can you transfer me to a real agent", "platform:human_agent"),
    ("I am extremely unhappy and want to complain", "platform:complaint"),
    ("your service is awful, I want to file a complaint", "platform:complaint"),
]


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(_env_prefix="PACKDESK_TEST_UNUSED_",
                    data_dir=tmp_path_factory.mktemp("intents") / "data")


@pytest.fixture(scope="session")
def tiny_model(tiny_settings: Settings) -> Path:
    """A fine-tuned model of the 5 platform intents with out-of-scope calibration."""
    return train_platform_model(tiny_settings.models_dir / "fine-tuned" / "model")


@pytest.fixture(scope="session")
def tiny_head(tiny_settings: Settings, shared_embedder: Any) -> Path:
    """The same data as an intent head over the bundled embedder's vectors."""
    return train_platform_model(tiny_settings.models_dir / "head" / "model",
                                embedder=shared_embedder)


@pytest.fixture(scope="session")
def tiny_model_onnx_cache(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """An ONNX cache holding ``tiny_model``'s export and its int8 quantisation, made once per
    session (the dynamo export takes about 25 s); tests work on a copy of it
    (tests/conftest.py ``copy_onnx_cache``)."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    cache = tmp_path_factory.mktemp("tiny-model-onnx-cache")
    IntentClassifier(tiny_model, backend="onnx-int8", onnx_cache=cache).warm_up()
    exported = sorted(path.name for path in cache.glob("*/model*.onnx"))
    from core.onnx_backend.export import INT8_7BIT_FILE, INT8_FILE, int8_needs_7bit_weights

    int8 = INT8_7BIT_FILE if int8_needs_7bit_weights() else INT8_FILE
    assert exported == sorted([int8, "model.onnx"]), exported
    return cache


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model: Path) -> IntentClassifier:
    classifier = IntentClassifier(tiny_model)
    classifier.warm_up()
    return classifier
