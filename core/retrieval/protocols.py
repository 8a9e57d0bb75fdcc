"""Roles the retrieval engine needs, with adapters living in ``plugins/``.

The index-builder role of ``packdesk pack build`` belongs to the pack format:
:class:`core.packs.builder.PackIndexBuilder`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    model_id: str  # recorded next to every stored vector
    dimension: int

    def warm_up(self) -> None:
        """Load weights once; idempotent."""

    def embed(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Return an array of shape ``(len(texts), dimension)``, rows of unit length."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (for token-aware chunking)."""
        ...

    def tokenize_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model tokens of ``text``, in order."""
        ...


@runtime_checkable
class VectorIndex(Protocol):
    """A built, searchable inner-product index over unit vectors."""

    dimension: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(scores, ids)``, each ``(len(queries), k)``; missing hits have id -1."""
        ...

    def save(self, path: Path) -> None: ...

    def __len__(self) -> int: ...


@runtime_checkable
class VectorIndexBackend(Protocol):
    """Builds and loads :class:`VectorIndex` objects of one family (e.g. FAISS)."""

    name: str

    def build(self, vectors: np.ndarray, *, kind: str = "flat") -> VectorIndex:
        """Build an index; ``kind`` is ``flat`` (exact) or an approximate kind (``hnsw``)."""
        ...

    def load(self, path: Path) -> VectorIndex: ...
