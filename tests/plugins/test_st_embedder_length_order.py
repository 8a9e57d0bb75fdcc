"""The ONNX path embeds long lists in batches of similar token length, in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from plugins.st_embedder import SentenceTransformerEmbedder  # noqa: E402
from tests.conftest import copy_onnx_cache  # noqa: E402

# Lengths deliberately out of order: sorting must move them.
TEXTS = [
    "hi",
    "What are the symptoms of glaucoma and how is it treated in older adults? " * 3,
    "card declined",
    "Can a debt collector contact me at work, and what can I do if they keep calling?",
    "mortgage",
    "Is cystic fibrosis inherited? " * 6,
    "How do I dispute a charge on my credit card statement?",
]


@pytest.fixture(scope="module")
def embedder(
    tmp_path_factory: pytest.TempPathFactory, bundled_onnx_cache: Path
) -> SentenceTransformerEmbedder:
    # A copy of the session's export (tests/conftest.py): the export has its own tests.
    cache = copy_onnx_cache(bundled_onnx_cache, tmp_path_factory.mktemp("onnx") / "cache")
    model = SentenceTransformerEmbedder(backend="onnx", onnx_cache=cache)
    model.warm_up()
    return model


def test_length_order_is_longest_first_and_not_the_input_order(embedder) -> None:
    order = embedder._length_order(embedder._runner, TEXTS)
    lengths = [embedder.count_tokens(TEXTS[i]) for i in order]
    assert lengths == sorted(lengths, reverse=True)
    assert order != list(range(len(TEXTS)))


def test_sorted_batches_return_each_text_its_own_vector(embedder) -> None:
    batched = embedder.embed(TEXTS, batch_size=2)  # more texts than one batch: sorted path
    alone = np.stack([embedder.embed([text])[0] for text in TEXTS])
    assert batched.shape == (len(TEXTS), 384) and batched.dtype == np.float32
    # Padding inside a batch changes nothing but rounding.
    assert np.abs(batched - alone).max() < 1e-5
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_one_batch_keeps_input_order(embedder) -> None:
    vectors = embedder.embed(TEXTS, batch_size=64)
    reversed_vectors = embedder.embed(TEXTS[::-1], batch_size=64)
    assert np.abs(vectors - reversed_vectors[::-1]).max() < 1e-5
