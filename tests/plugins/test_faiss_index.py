"""The FAISS backend plugin: exact by default, HNSW on request, save/load, CPU without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import PackFormatError, ValidationError
from core.retrieval.protocols import VectorIndex, VectorIndexBackend
from plugins import faiss_index
from plugins.faiss_index import FaissBackend


def unit_vectors(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_flat_index_is_exact_inner_product() -> None:
    vectors, queries = unit_vectors(500), unit_vectors(5, seed=1)
    index = FaissBackend().build(vectors)
    assert isinstance(index, VectorIndex) and index.kind == "flat" and len(index) == 500
    scores, ids = index.search(queries, 10)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert (ids == expected).all()
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, expected, axis=1), atol=1e-5)


def test_hnsw_is_selectable_and_finds_near_duplicates() -> None:
    vectors = unit_vectors(2000)
    index = FaissBackend().build(vectors, kind="hnsw")
    assert index.kind == "hnsw"
    _, ids = index.search(vectors[:20], 1)
    assert (ids[:, 0] == np.arange(20)).mean() >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_and_load_round_trip(tmp_path, kind: str) -> None:
    vectors = unit_vectors(100)
    backend = FaissBackend()
    backend.build(vectors, kind=kind).save(tmp_path / "v.faiss")
    loaded = backend.load(tmp_path / "v.faiss")
    assert loaded.kind == kind and loaded.dimension == 32 and len(loaded) == 100
    assert loaded.search(vectors[:3], 1)[1][:, 0].tolist() == [0, 1, 2]


def test_missing_hits_have_id_minus_one() -> None:
    _, ids = FaissBackend().build(unit_vectors(3)).search(unit_vectors(1, seed=2), 5)
    assert ids[0, 3:].tolist() == [-1, -1]


def test_truncated_file_is_rejected(tmp_path) -> None:
    path = tmp_path / "v.faiss"
    FaissBackend().build(unit_vectors(100)).save(path)
    path.write_bytes(path.read_bytes()[:64])
    with pytest.raises(PackFormatError, match="unreadable"):
        FaissBackend().load(path)


def test_missing_file_is_rejected(tmp_path) -> None:
    with pytest.raises(PackFormatError, match="does not exist"):
        FaissBackend().load(tmp_path / "absent.faiss")


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValidationError, match="'ivf-pq'"):
        FaissBackend().build(unit_vectors(10), kind="ivf-pq")


def test_wrong_query_dimension_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"\(n, 32\)"):
        FaissBackend().build(unit_vectors(10)).search(unit_vectors(1, d=8), 1)


def test_cpu_is_used_without_a_gpu(settings) -> None:
    (backend,) = faiss_index.packdesk_vector_index_backends(settings=settings)
    assert isinstance(backend, VectorIndexBackend) and backend.name == "faiss"
    index = backend.build(unit_vectors(10))
    assert index.on_gpu is (settings.use_gpu and faiss_index.gpu_available())


@pytest.mark.skipif(not faiss_index.gpu_available(), reason="needs faiss GPU support and a GPU")
def test_gpu_search_matches_cpu() -> None:
    vectors, queries = unit_vectors(1000), unit_vectors(4, seed=3)
    gpu = FaissBackend(use_gpu=True).build(vectors)
    cpu = FaissBackend(use_gpu=False).build(vectors)
    assert gpu.on_gpu
    assert (gpu.search(queries, 5)[1] == cpu.search(queries, 5)[1]).all()
