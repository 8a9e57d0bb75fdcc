"""The ONNX runner tokenises with ``tokenizers`` directly: exactly what transformers'
AutoTokenizer gives, without importing torch at a server start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from core.onnx_backend.runner import OnnxRunner  # noqa: E402
from plugins.st_embedder import bundled_model_path  # noqa: E402

TEXTS = [
    "Can a debt collector contact me at work?",
    "hi",
    "Ünïcödé café, naïve résumé; 日本語 and emoji 🙂",
    "word " * 400,  # longer than max_length: truncated
]


@pytest.fixture(scope="module")
def runner(bundled_onnx_cache: Path) -> OnnxRunner:
    # The session's export (tests/conftest.py), only read here; the last test below exports.
    (graph,) = bundled_onnx_cache.glob("*/model.onnx")
    return OnnxRunner(graph, bundled_model_path(), max_length=128, threads=1)


def test_batches_equal_autotokenizer(runner: OnnxRunner) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(bundled_model_path())(
        TEXTS, padding=True, truncation=True, max_length=128, return_tensors="np"
    )
    ids, mask, segments = runner.encode(TEXTS)
    assert ids.shape == (len(TEXTS), 128)  # padded to the longest row, which was truncated
    assert np.array_equal(ids, reference["input_ids"])
    assert np.array_equal(mask, reference["attention_mask"])
    assert np.array_equal(segments, reference["token_type_ids"])
    assert runner.token_lengths(TEXTS) == [int(row.sum()) for row in mask]
    # Padding follows the batch, not the fixed length tokenizer.json was saved with.
    assert runner.encode(["hi"])[0].shape == (1, 3)


def test_spans_ignore_truncation_and_special_tokens(runner: OnnxRunner) -> None:
    from transformers import AutoTokenizer

    text = TEXTS[3] + TEXTS[2]
    reference = AutoTokenizer.from_pretrained(bundled_model_path())(
        text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )["offset_mapping"]
    runner.encode(TEXTS)  # a batch call before must not leave its truncation behind
    spans = runner.token_spans(text)
    assert len(spans) > 128
    assert spans == [tuple(span) for span in reference]


def test_an_onnx_embedder_never_imports_torch_even_to_export(tmp_path: Path) -> None:
    """Torch traces the export in a child process; the serving process never imports it (a
    second of every start, and about a gigabyte kept until a ``prepare`` ends)."""
    cache = tmp_path / "onnx"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from plugins.st_embedder import SentenceTransformerEmbedder
        cache = Path({str(cache)!r})
        embedder = SentenceTransformerEmbedder(backend="onnx-int8", onnx_cache=cache)
        vectors = embedder.embed(["How do I reset my password?"])
        assert vectors.shape == (1, 384), vectors.shape
        assert len(list(cache.glob("*/model.int8*.onnx"))) == 1  # exported just now
        loaded = sorted(m for m in ("torch", "transformers", "sentence_transformers")
                        if m in sys.modules)
        print(",".join(loaded) or "none")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"
