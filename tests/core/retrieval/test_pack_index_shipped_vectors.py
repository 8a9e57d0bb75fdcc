"""Shipped vectors: reused only for the model, backend and chunk text they were computed from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import PackFormatError
from core.packs.builder import SHIPPED_VECTORS_FILE, build_pack
from core.packs.signing import TrustStore, generate_keypair
from core.packs.verify import verify_pack
from core.retrieval.pack_index import PackIndexer, chunk_pack, embed_chunks
from core.retrieval.shipped_vectors import KEY_BYTES, ShippedVectors, text_key
from core.settings import ArchiveLimits

from .conftest import FINANCE_DOCS, MEDICAL_DOCS, make_manifest


class CountingEmbedder:
    """The real embedder, recording every text it is asked to embed and naming a backend."""

    def __init__(self, inner, backend: str = "torch") -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.backend = backend
        self.embedded: list[str] = []

    def warm_up(self) -> None:
        self.inner.warm_up()

    def embed(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.embed(texts, batch_size=batch_size)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def tokenize_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.tokenize_spans(text)


def _shipped_for(embedder, documents, *, backend: str = "torch", model_id: str | None = None):
    chunks = chunk_pack(embedder, make_manifest("medical"), documents)
    texts = [chunk.embedding_text() for chunk in chunks]
    return ShippedVectors.compute(
        texts, embedder.embed(texts), model_id=model_id or embedder.model_id, backend=backend
    )


def test_file_round_trips_byte_for_byte(tmp_path: Path, embedder) -> None:
    shipped = _shipped_for(embedder, MEDICAL_DOCS)
    shipped.write(tmp_path / "a")
    again = ShippedVectors.read(tmp_path / "a")
    assert (again.model_id, again.backend, again.dimension) == (embedder.model_id, "torch", 384)
    assert again.vectors.keys() == shipped.vectors.keys()
    again.write(tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    # float16 on disk: two bytes a component, plus the keys and one header line.
    header = (tmp_path / "a").read_bytes().split(b"\n", 1)[0]
    size = len(header) + 1 + len(MEDICAL_DOCS) * (KEY_BYTES + 384 * 2)
    assert (tmp_path / "a").stat().st_size == size


def test_matching_chunks_are_not_embedded_again(embedder) -> None:
    shipped = _shipped_for(embedder, MEDICAL_DOCS)
    chunks = chunk_pack(embedder, make_manifest("medical"), MEDICAL_DOCS)
    counting = CountingEmbedder(embedder)
    vectors = embed_chunks(counting, chunks, shipped)
    assert counting.embedded == []
    fresh = embedder.embed([chunk.embedding_text() for chunk in chunks])
    assert np.abs(vectors - fresh).max() < 2e-3  # float16 rounding only
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_chunk_whose_text_changed_is_embedded_again(embedder) -> None:
    shipped = _shipped_for(embedder, MEDICAL_DOCS)
    edited = [MEDICAL_DOCS[0].model_copy(update={"text": "Influenza spreads by droplets."})]
    documents = edited + MEDICAL_DOCS[1:]
    chunks = chunk_pack(embedder, make_manifest("medical"), documents)
    counting = CountingEmbedder(embedder)
    vectors = embed_chunks(counting, chunks, shipped)
    assert counting.embedded == [chunks[0].embedding_text()]
    expected = embedder.embed([chunks[0].embedding_text()])[0]
    assert np.abs(vectors[0] - expected).max() < 1e-5  # the new text's vector, not the old one


@pytest.mark.parametrize(
    ("shipped_backend", "shipped_model", "embedder_backend"),
    [
        ("onnx-int8", None, "torch"),  # another backend of the same model
        ("torch", "acme/other-model", "torch"),  # another model
        ("torch", None, None),  # an embedder that does not name its backend
    ],
    ids=["backend", "model", "unnamed backend"],
)
def test_vectors_of_another_model_or_backend_are_not_used(
    embedder, shipped_backend, shipped_model, embedder_backend
) -> None:
    shipped = _shipped_for(embedder, MEDICAL_DOCS, backend=shipped_backend, model_id=shipped_model)
    chunks = chunk_pack(embedder, make_manifest("medical"), MEDICAL_DOCS)
    counting = CountingEmbedder(embedder, backend=embedder_backend)  # type: ignore[arg-type]
    embed_chunks(counting, chunks, shipped)
    assert counting.embedded and sorted(counting.embedded) == sorted(
        chunk.embedding_text() for chunk in chunks
    )


class DocumentPathEmbedder(CountingEmbedder):
    """Queries on one backend, documents on another (as the built-in embedder under
    onnx-int8): records which texts went through ``embed_documents``."""

    def __init__(self, inner) -> None:
        super().__init__(inner, backend="onnx-int8")
        self.document_backend = "onnx"
        self.documents: list[str] = []

    def embed_documents(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        self.documents.extend(texts)
        return self.inner.embed(texts, batch_size=batch_size)


@pytest.mark.parametrize(("shipped_backend", "reused"), [("onnx", True), ("onnx-int8", False)])
def test_document_vectors_come_from_the_document_backend(
    embedder, shipped_backend: str, reused: bool
) -> None:
    shipped = _shipped_for(embedder, MEDICAL_DOCS, backend=shipped_backend)
    chunks = chunk_pack(embedder, make_manifest("medical"), MEDICAL_DOCS)
    split = DocumentPathEmbedder(embedder)
    embed_chunks(split, chunks, shipped)
    assert split.embedded == []  # never the query path
    texts = sorted(chunk.embedding_text() for chunk in chunks)
    assert sorted(split.documents) == ([] if reused else texts)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # truncated vectors
        lambda data: b"not json\n" + data.split(b"\n", 1)[1],
        lambda data: data.replace(b'"format": 1', b'"format": 9', 1),
    ],
    ids=["truncated", "no header", "unknown format"],
)
def test_a_damaged_file_is_a_format_error(tmp_path: Path, embedder, damage) -> None:
    path = tmp_path / SHIPPED_VECTORS_FILE
    _shipped_for(embedder, MEDICAL_DOCS).write(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(PackFormatError, match=str(path)):
        ShippedVectors.read(path)


def test_pack_build_uses_the_source_file_and_leaves_it_out_of_the_pack(
    tmp_path: Path, embedder, backend
) -> None:
    import json

    source = tmp_path / "src"
    source.mkdir()
    manifest = make_manifest("finance")
    (source / "manifest.json").write_text(json.dumps(manifest.model_dump(mode="json")))
    (source / "documents.jsonl").write_text(
        "".join(doc.model_dump_json() + "\n" for doc in FINANCE_DOCS)
    )
    chunks = chunk_pack(embedder, manifest, FINANCE_DOCS)
    texts = [chunk.embedding_text() for chunk in chunks]
    ShippedVectors.compute(
        texts[1:], embedder.embed(texts[1:]), model_id=embedder.model_id, backend="torch"
    ).write(source / SHIPPED_VECTORS_FILE)
    private, public, _ = generate_keypair(tmp_path / "keys", "publisher")
    counting = CountingEmbedder(embedder)
    out = tmp_path / "finance.kpack"
    signed = build_pack(
        source, private_key_path=private, out_path=out, index_builder=PackIndexer(counting, backend)
    )
    assert counting.embedded == [texts[0]]  # the one chunk the file lacks
    assert SHIPPED_VECTORS_FILE not in signed.files
    assert "index/vectors.faiss" in signed.files
    verify_pack(out, TrustStore.load(public), ArchiveLimits())


def test_text_key_is_a_sha256_prefix() -> None:
    import hashlib

    assert text_key("é") == hashlib.sha256("é".encode()).digest()[:KEY_BYTES]


def test_product_quantised_file_decodes_close_to_the_vectors(tmp_path: Path, embedder) -> None:
    shipped = _shipped_for(embedder, MEDICAL_DOCS + FINANCE_DOCS)
    if len(shipped.vectors) < 256:  # FAISS needs at least as many rows as centroids
        rows = list(shipped.vectors.items())
        noise = np.random.default_rng(0).normal(0, 0.05, (256, shipped.dimension))
        extra = {bytes([i]) * KEY_BYTES: (rows[i % len(rows)][1] + noise[i]).astype(np.float16)
                 for i in range(256)}
        shipped = ShippedVectors(shipped.model_id, shipped.backend, {**shipped.vectors, **extra})
    from knowledge_packs.shipped_vectors import product_quantise

    centroids, codes = product_quantise(shipped)  # the maintainer tool's 192 x 1 byte
    path = tmp_path / SHIPPED_VECTORS_FILE
    shipped.write_quantized(path, centroids, codes)
    assert path.stat().st_size < len(shipped.vectors) * (KEY_BYTES + 192) + 400_000
    again = ShippedVectors.read(path)
    assert again.vectors.keys() == shipped.vectors.keys()
    assert (again.model_id, again.backend, again.dimension) == (shipped.model_id, "torch", 384)
    for key, row in shipped.vectors.items():
        exact, decoded = row.astype(np.float32), again.vectors[key].astype(np.float32)
        cosine = exact @ decoded / (np.linalg.norm(exact) * np.linalg.norm(decoded))
        assert cosine > 0.97
    path.write_bytes(path.read_bytes()[:-1])  # one code short
    with pytest.raises(PackFormatError, match="codes"):
        ShippedVectors.read(path)
