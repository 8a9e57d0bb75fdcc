"""The sentence-transformers embedder plugin, with the real bundled weights."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from core.retrieval.protocols import Embedder
from plugins import st_embedder
from plugins.st_embedder import SentenceTransformerEmbedder


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    model = SentenceTransformerEmbedder(device="cpu")
    model.warm_up()
    return model


def test_init_is_cheap_and_names_the_bundled_model() -> None:
    fresh = SentenceTransformerEmbedder()
    assert fresh._model is None  # nothing loaded until warm_up
    assert fresh.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert fresh.dimension == 384
    assert fresh.model_path.name == "model"
    assert isinstance(fresh, Embedder)


def test_vectors_are_normalised_float32_batches(embedder) -> None:
    texts = [f"question number {i} about mortgages" for i in range(70)]
    vectors = embedder.embed(texts, batch_size=16)
    assert vectors.shape == (70, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_similar_texts_are_closer(embedder) -> None:
    a, b, c = embedder.embed(["credit card fees", "charges on my credit card", "asthma inhaler"])
    assert a @ b > a @ c


def test_warm_up_is_idempotent(embedder) -> None:
    model = embedder._model
    embedder.warm_up()
    assert embedder._model is model


def test_token_spans_cover_the_text(embedder) -> None:
    text = "Escrow pays property taxes."
    spans = embedder.tokenize_spans(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(start < end for start, end in spans)
    assert len(spans) == embedder.count_tokens(text) >= 5


def test_missing_model_dir_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path)):
        SentenceTransformerEmbedder(model_path=tmp_path)


def test_hook_provides_the_embedder(settings) -> None:
    found = st_embedder.packdesk_embedder(settings=settings)
    assert isinstance(found, SentenceTransformerEmbedder)
    assert found.model_id == "sentence-transformers/all-MiniLM-L6-v2"


def test_plugin_manager_wires_the_embedder(settings) -> None:
    from core.plugin_manager import get_plugin_manager

    found = get_plugin_manager().hook.packdesk_embedder(settings=settings)
    assert isinstance(found, Embedder)
