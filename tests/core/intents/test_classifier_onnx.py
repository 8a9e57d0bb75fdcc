"""The intent classifier on ONNX Runtime decides what it decides on torch.

Both tests run on copies of one export of ``tiny_model`` per session
(``tiny_model_onnx_cache`` in conftest.py): exporting is what is compared with torch here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from core.intents import IntentClassifier  # noqa: E402
from tests.conftest import copy_onnx_cache  # noqa: E402
from tests.core.intents.conftest import HELD_OUT  # noqa: E402


def test_onnx_classifier_agrees_with_torch(
    tiny_model: Path, tiny_model_onnx_cache: Path, tmp_path: Path
) -> None:
    texts = [text for text, _ in HELD_OUT]
    torch_predictions = IntentClassifier(tiny_model).predict(texts)
    onnx_cache = copy_onnx_cache(tiny_model_onnx_cache, tmp_path / "onnx")
    onnx_predictions = IntentClassifier(tiny_model, backend="onnx",
                                        onnx_cache=onnx_cache).predict(texts)
    for ours, reference in zip(onnx_predictions, torch_predictions, strict=True):
        assert ours.label == reference.label
        assert abs(ours.confidence - reference.confidence) < 1e-4


def test_int8_classifier_keeps_the_decisions(
    tiny_model: Path, tiny_model_onnx_cache: Path, tmp_path: Path
) -> None:
    texts = [text for text, _ in HELD_OUT]
    reference = [p.top_k[0][0] for p in IntentClassifier(tiny_model).predict(texts)]
    onnx_cache = copy_onnx_cache(tiny_model_onnx_cache, tmp_path / "onnx")
    quantized = IntentClassifier(tiny_model, backend="onnx-int8", onnx_cache=onnx_cache)
    agreed = sum(p.top_k[0][0] == r for p, r in zip(quantized.predict(texts), reference,
                                                   strict=True))
    assert agreed >= len(texts) - 1
