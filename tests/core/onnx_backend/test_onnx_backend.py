"""The ONNX Runtime path computes what torch computes, from the same weights, and caches its
exports by those weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from core.errors import ConfigError, ValidationError  # noqa: E402
from core.intents import IntentClassifier  # noqa: E402
from core.onnx_backend import onnx_model  # noqa: E402
from plugins.st_embedder import SentenceTransformerEmbedder, bundled_model_path  # noqa: E402
from tests.conftest import copy_onnx_cache  # noqa: E402

TEXTS = [
    "Can a debt collector contact me at work?",
    "hi",
    "What are the symptoms of glaucoma and how is it treated in older adults?",
    "My card payment was declined, why?",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory, bundled_onnx_cache: Path) -> Path:
    """The module's own copy of the session's export of the bundled embedder (tests/conftest.py):
    exported once per session, compared with torch below."""
    return copy_onnx_cache(bundled_onnx_cache, tmp_path_factory.mktemp("onnx") / "cache")


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return SentenceTransformerEmbedder(device="cpu").embed(TEXTS)


def test_onnx_embeddings_equal_torch(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    embedder = SentenceTransformerEmbedder(backend="onnx", onnx_cache=onnx_cache)
    vectors = embedder.embed(TEXTS, batch_size=3)  # two batches, padded differently
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    assert np.abs(vectors - torch_vectors).max() < 1e-4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Chunking relies on the tokenizer: the same spans whichever backend runs the model.
    torch_spans = SentenceTransformerEmbedder(device="cpu").tokenize_spans(TEXTS[2])
    assert embedder.tokenize_spans(TEXTS[2]) == torch_spans


def test_int8_embeddings_stay_close(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    """Activations quantised per token: one range per pass gave "hi" a cosine of 0.98."""
    vectors = SentenceTransformerEmbedder(backend="onnx-int8", onnx_cache=onnx_cache).embed(TEXTS)
    cosine = (vectors * torch_vectors).sum(axis=1)
    assert cosine.min() > 0.99


QUESTIONS = [  # short questions, as routing sees them
    "when did i get my check last", "how do i set up direct deposit", "is the bank open today",
    "what is my credit limit", "was my order shipped", "how much is usd vs cad",
    "what's the weather like tomorrow", "play some jazz", "is autism a genetic disease",
    "i lost my card", "cancel my subscription", "what does habeas corpus mean",
    "how long will the transfer take", "reset my password please", "tell me a joke",
    "what are the side effects of ibuprofen",
]


def test_int8_question_vectors_stay_close_on_this_cpu(onnx_cache: Path) -> None:
    """Where int8 products saturate (x86 without VNNI) 8-bit weights gave these questions a
    mean cosine of about 0.96 to fp32; the export's 7-bit weights there keep it above 0.99."""
    exact = SentenceTransformerEmbedder(backend="onnx", onnx_cache=onnx_cache).embed(QUESTIONS)
    int8 = SentenceTransformerEmbedder(backend="onnx-int8", onnx_cache=onnx_cache)
    cosine = (int8.embed(QUESTIONS) * exact).sum(axis=1)
    assert cosine.mean() > 0.993 and cosine.min() > 0.98, cosine


def test_exports_are_cached_by_weights(onnx_cache: Path) -> None:
    SentenceTransformerEmbedder(backend="onnx", onnx_cache=onnx_cache).warm_up()
    (export,) = onnx_cache.glob("model-last_hidden_state-*/model.onnx")
    stamp = export.stat().st_mtime_ns

    def must_not_load() -> None:
        raise AssertionError("a cached export was exported again")

    path = onnx_model(bundled_model_path(), output="last_hidden_state",
                      load_model=must_not_load, cache_root=onnx_cache)
    assert path == export and export.stat().st_mtime_ns == stamp
    assert not [p for p in onnx_cache.rglob("*") if ".tmp-" in p.name]  # no staging left


def test_unknown_backend_and_missing_cache_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown inference backend"):
        SentenceTransformerEmbedder(backend="tensorrt")
    with pytest.raises(ConfigError, match="onnx_cache"):
        SentenceTransformerEmbedder(backend="onnx")
    with pytest.raises(ValidationError, match="unknown inference backend"):
        IntentClassifier(tmp_path, backend="tensorrt")
    with pytest.raises(ValidationError, match="onnx_cache"):
        IntentClassifier(tmp_path, backend="onnx-int8")


def test_missing_onnxruntime_says_how_to_install(
    onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"packdesk\[onnx\]"):
        SentenceTransformerEmbedder(backend="onnx", onnx_cache=onnx_cache).warm_up()


def test_an_int8_vector_does_not_depend_on_what_it_is_embedded_with(onnx_cache: Path) -> None:
    """With one quantisation range per pass a question's vector moved with its companions in
    a shared batch (and their padding), so routing near a threshold changed with the server's
    load; the graph quantises each token on its own (core/onnx_backend/row_quantization.py)."""
    embedder = SentenceTransformerEmbedder(backend="onnx-int8", onnx_cache=onnx_cache)
    together = embedder.embed(TEXTS, batch_size=len(TEXTS))  # one pass, padded to the longest
    alone = np.concatenate([embedder.embed([text]) for text in TEXTS])
    # Integer products are exact; the float parts (attention, layer norm) may round in
    # another order for another batch shape on some CPUs (bit-identical on those measured).
    assert np.abs(together - alone).max() < 1e-6
    crowd = TEXTS + ["a much longer message about mortgages, escrow accounts and late fees"] * 70
    assert np.abs(embedder.embed(crowd)[: len(TEXTS)] - alone).max() < 1e-6  # bulk, every core


def test_int8_document_vectors_are_fp32(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    """Documents are embedded once, so under onnx-int8 they run through the fp32 graph: only
    the question's side of each cosine carries quantisation error."""
    embedder = SentenceTransformerEmbedder(backend="onnx-int8", onnx_cache=onnx_cache)
    assert embedder.document_backend == "onnx"
    documents = embedder.embed_documents(TEXTS, batch_size=3)
    assert documents.dtype == np.float32 and documents.shape == torch_vectors.shape
    assert np.abs(documents - torch_vectors).max() < 1e-4
    queries = embedder.embed(TEXTS)
    assert not np.allclose(queries, documents, atol=1e-4)  # queries stay int8
    assert embedder.embed_documents([]).shape == (0, 384)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_other_backends_embed_documents_as_queries(onnx_cache: Path, backend: str) -> None:
    embedder = SentenceTransformerEmbedder(device="cpu", backend=backend, onnx_cache=onnx_cache)
    assert embedder.document_backend == backend
    assert np.array_equal(embedder.embed_documents(TEXTS), embedder.embed(TEXTS))
