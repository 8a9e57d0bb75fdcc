"""Compute a built-in pack's shipped chunk vectors (run by maintainers; the file is committed).

    python -m knowledge_packs.shipped_vectors medical [--backend onnx-int8] [--data-dir DIR]

Prepares the pack source, chunks it exactly as ``packdesk pack build`` does, and embeds every
chunk with the embedder the installation would use (the ``packdesk_embedder`` hook) run by
``--backend``, through its document path: under ``onnx-int8`` documents run through the fp32
graph, so the file names ``onnx`` as the backend that computed them. Vectors of an existing file
that still match a chunk's text are kept, so a small data change re-embeds only the chunks it
changed (they are then quantised once more: use ``--fresh`` now and then to start from exact
vectors). Writes
``knowledge_packs/<pack>/vectors.shipped`` product-quantised (format 2, FAISS's
``ProductQuantizer``, 192 sub-vectors of one byte: see ``core.retrieval.shipped_vectors``).
Run it again whenever the pack's documents, chunking or the default backend change: a stale file
still works, it only saves less time.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from core import Settings, get_plugin_manager, read_documents
from core.packs.builder import SHIPPED_VECTORS_FILE
from core.packs.manifest import load_manifest
from core.retrieval.pack_index import chunk_pack, embed_chunks, embedder_backend
from core.retrieval.shipped_vectors import ShippedVectors
from knowledge_packs.prepare import BUILTIN_PACKS, prepare_pack

PQ_SUBVECTORS = 192


def write_shipped_vectors(
    pack_id: str, *, backend: str, data_dir: Path, fresh: bool = False
) -> Path:
    """Embed every chunk of built-in pack ``pack_id`` and write its shipped-vectors file."""
    pack = BUILTIN_PACKS[pack_id]
    target = pack.root / SHIPPED_VECTORS_FILE
    settings = Settings(data_dir=data_dir, inference_backend=backend)  # type: ignore[arg-type]
    embedder = get_plugin_manager().hook.packdesk_embedder(settings=settings)
    with tempfile.TemporaryDirectory(prefix="packdesk-vectors-") as work:
        source = prepare_pack(pack_id, Path(work) / pack_id)
        manifest = load_manifest(source / "manifest.json")
        documents = read_documents(source / "documents.jsonl", source=f"{pack_id}/documents")
    chunks = chunk_pack(embedder, manifest, documents)
    previous = ShippedVectors.read(target) if target.is_file() and not fresh else None
    started = time.perf_counter()
    vectors = embed_chunks(embedder, chunks, previous)
    logging.info("embedded %d chunks in %.0fs", len(chunks), time.perf_counter() - started)
    model_backend = embedder_backend(embedder)
    if model_backend is None:
        raise SystemExit(f"the embedder {embedder.model_id} does not name its backend")
    shipped = ShippedVectors.compute(
        [chunk.embedding_text() for chunk in chunks],
        vectors,
        model_id=embedder.model_id,
        backend=model_backend,
    )
    centroids, codes = product_quantise(shipped)
    shipped.write_quantized(target, centroids, codes)
    return target


def product_quantise(shipped: ShippedVectors) -> tuple[np.ndarray, np.ndarray]:
    """Train a product quantiser on the vectors and code them, rows in sorted-key order (the
    order :meth:`ShippedVectors.write_quantized` writes keys in)."""
    import faiss

    rows = np.stack([shipped.vectors[key] for key in sorted(shipped.vectors)]).astype(np.float32)
    # Any: the SWIG stubs type the C++ signatures, not the numpy wrappers faiss adds.
    quantiser: Any = faiss.ProductQuantizer(shipped.dimension, PQ_SUBVECTORS, 8)
    quantiser.train(rows)
    codes = quantiser.compute_codes(rows)
    centroids = faiss.vector_to_array(quantiser.centroids).reshape(
        PQ_SUBVECTORS, 256, shipped.dimension // PQ_SUBVECTORS
    )
    decoded = quantiser.decode(codes)
    cosine = (decoded * rows).sum(axis=1) / (
        np.linalg.norm(decoded, axis=1) * np.linalg.norm(rows, axis=1)
    )
    logging.info("product quantised %d vectors: mean cosine %.4f, min %.4f",
                 len(rows), float(cosine.mean()), float(cosine.min()))
    return centroids, codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pack_id", choices=sorted(BUILTIN_PACKS))
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument(
        "--data-dir", type=Path, default=Path("var"), help="where the ONNX export is cached"
    )
    parser.add_argument("--fresh", action="store_true",
                        help="embed every chunk again instead of reusing the file's vectors")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = write_shipped_vectors(args.pack_id, backend=args.backend, data_dir=args.data_dir,
                                 fresh=args.fresh)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
