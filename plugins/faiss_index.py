"""The built-in vector index backend: FAISS (exact inner product by default, HNSW on request).

Vectors are unit length, so inner product is cosine similarity. Search moves to the GPU when
faiss was built with GPU support (``packdesk[gpu]``), a GPU is present and
``settings.use_gpu`` is true; otherwise, and in CI, everything runs on the CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import PackFormatError, ValidationError, hookimpl

if TYPE_CHECKING:
    from core import Settings

log = logging.getLogger(__name__)

KINDS = ("flat", "hnsw")
HNSW_NEIGHBOURS = 32  # M: graph degree; 32 is faiss' recommended default for ~384-d vectors
HNSW_EF_CONSTRUCTION = 200
# Candidates kept while walking the graph, raised per search to at least k. 256: on the medical
# pack (32,812 chunks) hybrid nDCG@10 0.8126 against 0.8136 exact, 0.8104 at 128
# (BENCHMARKS.md "Load"); about 0.4 ms a question against 2.7 ms for the exact scan.
HNSW_EF_SEARCH = 256


def gpu_available() -> bool:
    """Whether the installed faiss can use a GPU on this machine."""
    import faiss

    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return (
        hasattr(faiss, "StandardGpuResources") and get_num_gpus is not None and get_num_gpus() > 0
    )


SEARCH_THREADS = 1


def _faiss() -> Any:
    import faiss

    return faiss


class FaissIndex:
    """A built FAISS index: the :class:`core.VectorIndex` role."""

    def __init__(self, index: Any, *, kind: str, gpu_resources: Any = None) -> None:
        self._cpu_index = index
        self.kind = kind
        self.dimension = int(index.d)
        self._search_index = index
        self.on_gpu = False
        if gpu_resources is not None and kind == "flat":
            # Only exact indexes have a GPU form; HNSW stays on the CPU.
            import faiss

            self._search_index = faiss.index_cpu_to_gpu(gpu_resources, 0, index)
            self.on_gpu = True

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query row; missing hits have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dimension:
            raise ValidationError(
                f"query vectors must have shape (n, {self.dimension}), got {queries.shape}"
            )
        params = None
        if self.kind == "hnsw":
            # Per call, not a setting of the shared index that concurrent searches would race on.
            params = _faiss().SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        # A search serves one request: one or a few query vectors, from one of several request
        # threads at once. FAISS's OpenMP team per call then spins against those threads and
        # the embedder's pool on two cores; one thread per search lets concurrent searches use
        # the cores instead (bench/load.py). OpenMP's thread count is per calling thread, so
        # it is set here, in the thread that searches.
        _faiss().omp_set_num_threads(SEARCH_THREADS)
        scores, ids = self._search_index.search(queries, k, params=params)
        return scores, ids

    def save(self, path: Path) -> None:
        """Write the (CPU form of the) index to ``path``."""
        import faiss

        faiss.write_index(self._cpu_index, str(path))

    def __len__(self) -> int:
        return int(self._cpu_index.ntotal)


class FaissBackend:
    """Builds and loads :class:`FaissIndex` objects: the :class:`core.VectorIndexBackend` role."""

    name = "faiss"

    def __init__(self, *, use_gpu: bool = False) -> None:
        self._use_gpu = use_gpu
        self._gpu_resources: Any = None

    def _resources(self) -> Any:
        if not self._use_gpu or not gpu_available():
            return None
        if self._gpu_resources is None:
            import faiss

            self._gpu_resources = faiss.StandardGpuResources()
            log.info("faiss search runs on the GPU")
        return self._gpu_resources

    def build(self, vectors: np.ndarray, *, kind: str = "flat") -> FaissIndex:
        """Index unit-length ``vectors`` (float32, ``(n, d)``) with an index of ``kind``.

        Raises:
            ValidationError: unknown ``kind`` or vectors of the wrong shape.
        """
        import faiss

        if kind not in KINDS:
            raise ValidationError(
                f"unknown index kind {kind!r}; expected one of {', '.join(KINDS)}"
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ValidationError(f"vectors must be a 2-d (n, d) array, got shape {vectors.shape}")
        dimension = vectors.shape[1]
        index: faiss.Index
        if kind == "flat":
            index = faiss.IndexFlatIP(dimension)
        else:
            hnsw = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index = hnsw
        index.add(vectors)
        return FaissIndex(index, kind=kind, gpu_resources=self._resources())

    def load(self, path: Path) -> FaissIndex:
        """Read an index written by :meth:`FaissIndex.save`.

        Raises:
            PackFormatError: the file is missing, truncated or not a FAISS index.
        """
        import faiss

        if not Path(path).is_file():
            raise PackFormatError(f"vector index file {path} does not exist")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports every read failure as RuntimeError
            raise PackFormatError(f"vector index file {path} is unreadable: {exc}") from exc
        kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        return FaissIndex(index, kind=kind, gpu_resources=self._resources())


@hookimpl
def packdesk_vector_index_backends(settings: Settings) -> list[FaissBackend]:
    """The FAISS backend (GPU search only when ``settings.use_gpu`` and a GPU is usable)."""
    return [FaissBackend(use_gpu=settings.use_gpu)]
