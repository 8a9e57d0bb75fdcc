"""One installed pack's loaded search index: dense (FAISS) and lexical (BM25) over its chunks."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ChecksumMismatch, FileSetMismatch, IndexMismatch, PackFormatError
from core.packs.documents_io import read_documents
from core.packs.manifest import DOCUMENTS_FILE, INDEX_DIR
from core.retrieval.chunk_file import ChunkFile
from core.retrieval.chunking import Chunk
from core.retrieval.intent_lift import IntentLift
from core.retrieval.lexical import LEXICAL_DIR, Bm25Index
from core.retrieval.pack_index import (
    CHUNKS_FILE,
    VECTORS_FILE,
    IndexMeta,
    PackIndexer,
    check_model,
)
from core.retrieval.protocols import Embedder, VectorIndex, VectorIndexBackend

log = logging.getLogger(__name__)


def verify_index_files(pack_root: Path, manifest: Any) -> None:
    """Check every index file against the SHA-256 the (signed) manifest records.

    A manifest with an empty file table (an unsigned pack being authored) is not checked.

    Raises:
        ChecksumMismatch: an index file's bytes differ from the manifest (truncated, altered).
        FileSetMismatch: an index file is missing, or present but not listed.
    """
    files: dict[str, str] = dict(manifest.files)
    if not files:
        return
    index_root = pack_root / INDEX_DIR
    listed = {path for path in files if path.startswith(f"{INDEX_DIR}/")}
    present = {
        path.relative_to(pack_root).as_posix() for path in index_root.rglob("*") if path.is_file()
    }
    if missing := sorted(listed - present):
        raise FileSetMismatch(f"pack {manifest.id!r}: index file {missing[0]} is missing")
    if extra := sorted(present - listed):
        raise FileSetMismatch(f"pack {manifest.id!r}: index file {extra[0]} is not in the manifest")
    for relative in sorted(listed):
        digest = hashlib.sha256((pack_root / relative).read_bytes()).hexdigest()
        if digest != files[relative]:
            raise ChecksumMismatch(
                f"pack {manifest.id!r}: {relative} does not match its manifest checksum "
                "(truncated or altered); reinstall the pack"
            )


class PackSearcher:
    """A pack's chunks with their vector and BM25 indexes, ready to search."""

    def __init__(
        self,
        pack_id: str,
        meta: IndexMeta,
        chunks: Sequence[Chunk],
        vectors: VectorIndex,
        lexical: Bm25Index,
        intent_lift: IntentLift | None = None,
    ) -> None:
        if len(chunks) != meta.chunk_count or len(vectors) != meta.chunk_count:
            raise PackFormatError(
                f"pack {pack_id!r}: index.json says {meta.chunk_count} chunks, found "
                f"{len(chunks)} chunks and {len(vectors)} vectors"
            )
        self.pack_id = pack_id
        self.meta = meta
        self.chunks = chunks
        self.vectors = vectors
        self.lexical = lexical
        self.intent_lift = intent_lift

    @classmethod
    def load(
        cls,
        pack_root: Path,
        manifest: Any,
        embedder: Embedder,
        backend: VectorIndexBackend,
        *,
        rebuild_dir: Path | None = None,
        verify: bool = True,
    ) -> PackSearcher:
        """Load the index of the pack extracted at ``pack_root``.

        Args:
            pack_root: directory with ``manifest.json``, ``documents.jsonl`` and ``index/``.
            manifest: the pack's parsed manifest.
            embedder: the configured embedder; the index must have been made with it.
            backend: the vector index backend that reads ``vectors.faiss``.
            rebuild_dir: when the operator asks for a rebuild: if the pack's index was made
                with another model, build a fresh index here (outside the signed pack) with
                ``embedder`` and load that instead of failing. Reused when already built.
            verify: check the index files against the manifest's checksums first.
        Raises:
            IndexMismatch: the index was built with another model/dimension and no
                ``rebuild_dir`` was given.
            ChecksumMismatch, FileSetMismatch: index files truncated, altered, added, removed.
            PackFormatError: index files unreadable or inconsistent; when rebuilding, a
                malformed ``documents.jsonl`` (``TextNotUtf8``, ``MalformedJson``,
                ``DocumentInvalid``, naming the file and line).
        """
        if verify:
            verify_index_files(pack_root, manifest)
        index_dir = pack_root / INDEX_DIR
        meta = IndexMeta.read(index_dir)
        try:
            check_model(
                embedder, meta.model_id, meta.dimension, what=f"the index of pack {manifest.id!r}"
            )
        except IndexMismatch:
            if rebuild_dir is None:
                raise
            index_dir = cls._rebuilt(pack_root, manifest, embedder, backend, rebuild_dir)
            meta = IndexMeta.read(index_dir)
        return cls._read(manifest.id, index_dir, meta, backend)

    @staticmethod
    def _rebuilt(
        pack_root: Path,
        manifest: Any,
        embedder: Embedder,
        backend: VectorIndexBackend,
        rebuild_dir: Path,
    ) -> Path:
        try:
            meta = IndexMeta.read(rebuild_dir)
            check_model(embedder, meta.model_id, meta.dimension, what="the rebuilt index")
            return rebuild_dir
        except (PackFormatError, IndexMismatch):
            pass  # nothing usable there yet
        log.warning("rebuilding the index of pack %s with %s", manifest.id, embedder.model_id)
        documents_path = pack_root / DOCUMENTS_FILE
        documents = read_documents(documents_path, source=str(documents_path))
        target = manifest.model_copy(
            update={
                "embedding_model": manifest.embedding_model.model_copy(
                    update={"id": embedder.model_id, "dimension": embedder.dimension}
                )
            }
        )
        staging = rebuild_dir.with_name(rebuild_dir.name + ".partial")
        if staging.exists():
            import shutil

            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        PackIndexer(embedder, backend).build(target, documents, staging)
        if rebuild_dir.exists():
            import shutil

            shutil.rmtree(rebuild_dir)
        staging.rename(rebuild_dir)  # only a complete index is ever visible
        return rebuild_dir

    @classmethod
    def _read(
        cls, pack_id: str, index_dir: Path, meta: IndexMeta, backend: VectorIndexBackend
    ) -> PackSearcher:
        chunks = ChunkFile(index_dir / CHUNKS_FILE)
        vectors = backend.load(index_dir / VECTORS_FILE)
        if vectors.dimension != meta.dimension:
            raise IndexMismatch(
                f"pack {pack_id!r}: vectors.faiss has dimension {vectors.dimension}, "
                f"index.json says {meta.dimension}"
            )
        lexical = Bm25Index.load(index_dir / LEXICAL_DIR, len(chunks))
        lift = IntentLift.load(index_dir, chunk_count=len(chunks), dimension=meta.dimension)
        return cls(pack_id, meta, chunks, vectors, lexical, lift)

    def dense(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(cosine scores, chunk ids)`` per query vector row (-1 = no hit)."""
        return self.vectors.search(query_vectors, min(k, len(self.chunks)))

    def bm25(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(BM25 scores, chunk ids)`` with a positive score."""
        return self.lexical.search(query, k)

    def bm25_terms(self, terms: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`bm25` for a query analysed by :func:`~core.retrieval.lexical.query_terms`."""
        return self.lexical.search_terms(terms, k)

    def __len__(self) -> int:
        return len(self.chunks)
