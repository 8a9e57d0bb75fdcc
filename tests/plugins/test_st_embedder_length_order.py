"""The ONNX path embeds long lists in passes of similar token length, each bounded in texts
and padded tokens, and returns the vectors in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from plugins import st_embedder  # noqa: E402
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


def test_passes_are_longest_first_and_not_the_input_order(embedder) -> None:
    passes = embedder._passes(embedder._runner, TEXTS, 2)
    order = [i for batch in passes for i in batch]
    lengths = [embedder.count_tokens(TEXTS[i]) for i in order]
    assert lengths == sorted(lengths, reverse=True)
    assert order != list(range(len(TEXTS))) and sorted(order) == list(range(len(TEXTS)))
    assert all(len(batch) <= 2 for batch in passes)


def test_a_pass_holds_at_most_the_token_budget(embedder, monkeypatch) -> None:
    """Activations grow with texts x longest text: a pass is bounded by padded tokens too, so
    bulk embedding of long texts stays small (a text over the budget goes alone)."""
    lengths = embedder._runner.token_lengths(TEXTS)
    budget = 2 * max(lengths)  # room for two of the longest, more of the short ones
    monkeypatch.setattr(st_embedder, "TOKENS_PER_PASS", budget)
    passes = embedder._passes(embedder._runner, TEXTS, 64)
    assert len(passes) > 1
    for batch in passes:
        assert len(batch) * max(lengths[i] for i in batch) <= budget
    monkeypatch.setattr(st_embedder, "TOKENS_PER_PASS", 1)
    assert embedder._passes(embedder._runner, TEXTS, 64) == [
        [i] for i in sorted(range(len(TEXTS)), key=lambda i: -lengths[i])
    ]


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
