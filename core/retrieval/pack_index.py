"""Building a pack's search index at pack build time: chunks, embeddings, FAISS, BM25.

Files written into ``index/`` (every one is hashed into the manifest, so signed):

* ``index.json``   model id, dimension, index kind, chunk count and chunking settings;
* ``chunks.jsonl`` one chunk per line (line ``i`` is chunk id ``i``);
* ``vectors.faiss`` the vector index (row ``i`` = chunk id ``i``);
* ``bm25/``        the bm25s index over the same chunks;
* ``intents.npz``  only when the manifest sets ``index.intent_lift``: intent centroids and each
  chunk's intent (:mod:`core.retrieval.intent_lift`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import IndexMismatch, PackFormatError
from core.packs.documents import Document
from core.retrieval.chunking import Chunk, chunk_documents
from core.retrieval.intent_lift import IntentLift
from core.retrieval.lexical import LEXICAL_DIR, STEMMER_LANGUAGE, STOPWORDS, Bm25Index
from core.retrieval.protocols import Embedder, VectorIndexBackend
from core.retrieval.shipped_vectors import ShippedVectors

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
INDEX_META_FILE = "index.json"
CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "vectors.faiss"
# Texts per model call. Measured with the fp32 graph that embeds documents under onnx-int8,
# the 512 longest finance chunks on the 2-core machine: batches of 16 / 8 / 4 / 2 / 1 took
# 19.5 / 18.4 / 18.0 / 17.2 / 17.3 s and raised the process's peak memory by 820 / 480 / 290 /
# 200 / 150 MB (activations of two concurrent passes; ONNX Runtime's arena keeps its peak).
# Small batches cost nothing on a CPU.
EMBED_BATCH = 2
# Texts per embed() call: large enough that the embedder's own length sort has similar texts to
# group, small enough for a progress bar that moves.
EMBED_GROUP = 1024
PROGRESS_MIN_CHUNKS = 256  # below this a progress bar is noise


@dataclass(frozen=True)
class IndexMeta:
    """The contents of ``index/index.json``."""

    model_id: str
    dimension: int
    kind: str
    chunk_count: int
    chunk_tokens: int
    chunk_overlap: int
    backend: str = "faiss"
    format: int = INDEX_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "model_id": self.model_id,
            "dimension": self.dimension,
            "kind": self.kind,
            "chunk_count": self.chunk_count,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap": self.chunk_overlap,
            "backend": self.backend,
            "files": {"chunks": CHUNKS_FILE, "vectors": VECTORS_FILE, "lexical": LEXICAL_DIR},
            "lexical": {"library": "bm25s", "stopwords": STOPWORDS, "stemmer": STEMMER_LANGUAGE},
        }

    @classmethod
    def read(cls, index_dir: Path) -> IndexMeta:
        """Parse ``index_dir/index.json``.

        Raises:
            PackFormatError: missing, not JSON, or lacking a field.
        """
        path = index_dir / INDEX_META_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                model_id=str(data["model_id"]),
                dimension=int(data["dimension"]),
                kind=str(data["kind"]),
                chunk_count=int(data["chunk_count"]),
                chunk_tokens=int(data["chunk_tokens"]),
                chunk_overlap=int(data["chunk_overlap"]),
                backend=str(data.get("backend", "faiss")),
                format=int(data.get("format", INDEX_FORMAT)),
            )
        except FileNotFoundError as exc:
            raise PackFormatError(f"{path} does not exist: the pack has no search index") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise PackFormatError(f"{path} is not a valid index description: {exc!r}") from exc


def check_model(embedder: Embedder, model_id: str, dimension: int, *, what: str) -> None:
    """Raise :class:`IndexMismatch` unless ``embedder`` is the model ``what`` was made with."""
    if embedder.model_id != model_id or embedder.dimension != dimension:
        raise IndexMismatch(
            f"{what} uses embedding model {model_id!r} (dimension {dimension}), but the "
            f"configured embedder is {embedder.model_id!r} (dimension {embedder.dimension}); "
            "rebuild the index with this embedder (`--rebuild-index`) or configure the "
            "matching model (PACKDESK_EMBEDDER_MODEL_PATH)"
        )


def embed_chunks(
    embedder: Embedder, chunks: Sequence[Chunk], shipped: ShippedVectors | None = None
) -> np.ndarray:
    """Embed every chunk's title + text in batches, with a progress bar for large packs.

    Chunks whose text ``shipped`` holds a vector for (made by this embedder's model and
    backend) take that vector; only the others are embedded. Those are embedded longest first,
    so each batch holds texts of similar length (little padding, which on a CPU is most of the
    cost), then put back in chunk-id order.
    """
    from tqdm.auto import tqdm

    embedder.warm_up()
    texts = [chunk.embedding_text() for chunk in chunks]
    if shipped is not None and usable(shipped, embedder):
        vectors, todo = shipped.lookup(texts)
        log.info("shipped vectors: %d of %d chunks reused", len(texts) - len(todo), len(texts))
    else:
        vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
        todo = list(range(len(texts)))
    order = sorted(todo, key=lambda i: -len(texts[i]))
    with tqdm(
        total=len(order),
        desc="embedding chunks",
        unit="chunk",
        disable=len(order) < PROGRESS_MIN_CHUNKS,
    ) as bar:
        for start in range(0, len(order), EMBED_GROUP):
            rows = order[start : start + EMBED_GROUP]
            vectors[rows] = embed_documents(embedder, [texts[i] for i in rows])
            bar.update(len(rows))
    return vectors


def embed_documents(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Document vectors of ``texts``: the embedder's ``embed_documents`` where it has one (the
    built-in embedder computes them more precisely than query vectors), else ``embed``."""
    embed = getattr(embedder, "embed_documents", None) or embedder.embed
    vectors: np.ndarray = embed(texts, batch_size=EMBED_BATCH)
    return vectors


def embedder_backend(embedder: Embedder) -> str | None:
    """The inference backend that computes an embedder's document vectors (``torch``,
    ``onnx``), or None.

    Not part of the Embedder role: an embedder that does not say is never given shipped vectors.
    ``document_backend`` where the embedder names one (documents and queries may run through
    different graphs), else ``backend``.
    """
    backend = getattr(embedder, "document_backend", None) or getattr(embedder, "backend", None)
    return backend if isinstance(backend, str) else None


def usable(shipped: ShippedVectors, embedder: Embedder) -> bool:
    """Whether ``shipped`` was computed by ``embedder``'s model, backend and dimension."""
    backend = embedder_backend(embedder)
    return (
        backend is not None
        and shipped.matches(embedder.model_id, backend)
        and shipped.dimension == embedder.dimension
    )


def chunk_pack(embedder: Embedder, manifest: Any, documents: list[Document]) -> list[Chunk]:
    """The chunks of ``documents`` under the manifest's index settings (what gets embedded)."""
    settings = manifest.index
    embedder.warm_up()
    return chunk_documents(
        documents,
        embedder.tokenize_spans,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
    )


class PackIndexer:
    """The index builder ``packdesk pack build`` uses.

    Satisfies :class:`core.packs.builder.PackIndexBuilder` structurally (no import needed: the
    pack format declares the role, retrieval fills it).
    """

    def __init__(self, embedder: Embedder, backend: VectorIndexBackend) -> None:
        self.embedder = embedder
        self.backend = backend
        self.last_build_seconds: float | None = None

    def build(
        self,
        manifest: Any,
        documents: list[Document],
        index_dir: Path,
        *,
        shipped_vectors: Path | None = None,
    ) -> None:
        """Chunk, embed and index ``documents`` into ``index_dir``.

        Args:
            manifest: the pack's manifest (``index`` settings and ``embedding_model``).
            documents: the pack's documents, in file order.
            index_dir: an existing directory to write into.
            shipped_vectors: a :mod:`core.retrieval.shipped_vectors` file of the pack source;
                its vectors stand in for embedding the chunks whose text they were made from.
        Raises:
            IndexMismatch: ``manifest.embedding_model`` is not this builder's embedder.
            PackFormatError: the pack has no documents, ``shipped_vectors`` is unreadable, or
                ``index.intent_lift`` is set and the documents do not name their intents.
        """
        started = time.perf_counter()
        check_model(
            self.embedder,
            manifest.embedding_model.id,
            manifest.embedding_model.dimension,
            what=f"pack {manifest.id!r} (manifest embedding_model)",
        )
        if not documents:
            raise PackFormatError(f"pack {manifest.id!r} has no documents to index")
        settings = manifest.index
        chunks = chunk_pack(self.embedder, manifest, documents)
        # Before the long embedding: a document naming an unknown intent fails at once.
        lift = IntentLift.build(manifest, documents, chunks, self.embedder.embed)
        shipped = ShippedVectors.read(shipped_vectors) if shipped_vectors is not None else None
        vectors = embed_chunks(self.embedder, chunks, shipped)
        vector_index = self.backend.build(vectors, kind=settings.kind)
        lexical = Bm25Index.build([chunk.lexical_text() for chunk in chunks])

        index_dir.mkdir(parents=True, exist_ok=True)
        with (index_dir / CHUNKS_FILE).open("w", encoding="utf-8") as out:
            for chunk in chunks:
                out.write(json.dumps(chunk.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        vector_index.save(index_dir / VECTORS_FILE)
        lexical.save(index_dir / LEXICAL_DIR)
        if lift is not None:
            lift.save(index_dir)
        meta = IndexMeta(
            model_id=self.embedder.model_id,
            dimension=self.embedder.dimension,
            kind=settings.kind,
            chunk_count=len(chunks),
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            backend=self.backend.name,
        )
        (index_dir / INDEX_META_FILE).write_text(
            json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        self.last_build_seconds = time.perf_counter() - started
        log.info(
            "indexed pack %s: %d documents, %d chunks in %.1fs",
            manifest.id,
            len(documents),
            len(chunks),
            self.last_build_seconds,
        )
