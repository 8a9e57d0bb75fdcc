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
