"""Shared fixtures: explicit settings with a fresh data directory per test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs the torch backend: the default int8 ONNX backend exports the model once per
# data directory (about 20 s), and most tests make their own. The ONNX paths have their own
# tests (tests/core/onnx_backend, tests/core/intents/test_classifier_onnx.py). Both prefixes:
# servers the tests start read PACKDESK_*, settings the tests build read the unused prefix.
os.environ.setdefault("PACKDESK_INFERENCE_BACKEND", "torch")
os.environ.setdefault("PACKDESK_TEST_UNUSED_INFERENCE_BACKEND", "torch")

from core.settings import Settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings built explicitly (never from the environment) with a fresh data directory."""
    return Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def shared_embedder() -> Any:
    """The bundled query embedder (all-MiniLM-L6-v2), loaded once per test session."""
    from plugins.st_embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def bundled_onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX cache holding the bundled embedder's export (``model.onnx``) and its int8
    quantisation (``model.int8.onnx``), made once per test session: each export traces the
    model with torch's dynamo exporter (about 25 s). Tests that only load the graphs may use
    it as is; a test that may write to its cache works on a copy
    (:func:`copy_onnx_cache`). The export itself stays tested: the vectors of this one are
    compared with torch's (tests/core/onnx_backend), and tests/core/onnx_backend/test_tokenizer.py
    exports into an empty cache of its own."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from plugins.st_embedder import SentenceTransformerEmbedder

    cache = tmp_path_factory.mktemp("bundled-onnx-cache")
    SentenceTransformerEmbedder(backend="onnx-int8", onnx_cache=cache).warm_up()
    exported = sorted(path.name for path in cache.glob("*/model*.onnx"))
    from core.onnx_backend.export import INT8_7BIT_FILE, INT8_FILE, int8_needs_7bit_weights

    int8 = INT8_7BIT_FILE if int8_needs_7bit_weights() else INT8_FILE
    assert exported == sorted([int8, "model.onnx"]), exported
    return cache


def copy_onnx_cache(cache: Path, destination: Path) -> Path:
    """A copy of the ONNX cache ``cache`` at ``destination`` (which must not exist): the
    exports and the weights-hash memo, so nothing is exported or hashed again."""
    import shutil

    return Path(shutil.copytree(cache, destination))


def train_platform_model(out_dir: Path, *, embedder: Any = None) -> Path:
    """A real intent model of the five built-in platform intents, with out-of-scope
    calibration: an intent head over ``embedder``'s vectors (what ``packdesk prepare`` makes),
    or without an embedder the fine-tuned classifier (12 epochs; both take seconds)."""
    from core.intents.dataset import examples_from_manifests

    examples = examples_from_manifests([])
    if embedder is not None:
        from core.intents.head import train_intent_head

        return train_intent_head(examples, out_dir=out_dir, embed=embedder.embed,
                                 embedder_id=embedder.model_id).model_dir
    from core.intents.training import train_intent_model

    return train_intent_model(examples, out_dir=out_dir, epochs=12, show_progress=False).model_dir
