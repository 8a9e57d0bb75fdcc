"""Chunk vectors computed once and shipped with the pack source they were computed from.

Embedding every chunk of a large pack is most of a first run's time. A pack source may carry
:data:`core.packs.builder.SHIPPED_VECTORS_FILE`: a vector per chunk text, labelled with the
embedding model id and inference backend that computed them and keyed by a hash of the text
embedded. The index builder reuses a vector only when the model and backend are the configured
embedder's and the chunk's text hashes to the same key; any other chunk is embedded again, so a
stale or foreign file costs time, never correctness.

File layout (little-endian): one JSON line (``format``, ``model_id``, ``backend``,
``dimension``, ``count``), then ``count`` keys of :data:`KEY_BYTES` bytes, then the rows:

- format 1: ``count`` rows of ``dimension`` float16 values (2 bytes per component);
- format 2 (:data:`FORMAT_PQ`, what the maintainer tool writes): product-quantised rows. The
  header adds ``pq_m``: the vector is cut into ``pq_m`` sub-vectors of ``dimension / pq_m``
  components, each replaced by the nearest of 256 centroids of its subspace. The centroids
  (``pq_m`` x 256 x sub-dimension float32) follow the keys, then one byte per sub-vector and
  row. 192 sub-vectors of 2 components keep a mean cosine of 0.997 (at least 0.990) to the
  float16 rows of the medical pack at a quarter of the size: 7.2 MB instead of 25.7 for its
  32,807 distinct chunk texts (BENCHMARKS.md "ONNX Runtime" has the nDCG@10 it gives).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import PackFormatError

FORMAT = 1
FORMAT_PQ = 2
PQ_CENTROIDS = 256  # one byte per sub-vector
KEY_BYTES = 16  # a SHA-256 prefix: 128 bits, no accidental collisions among a pack's chunks


def text_key(text: str) -> bytes:
    """The key of one embedded text: the first :data:`KEY_BYTES` bytes of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


@dataclass(frozen=True)
class ShippedVectors:
    """Vectors by text key, with the model id and backend that computed them."""

    model_id: str
    backend: str
    vectors: dict[bytes, np.ndarray]  # float16 rows

    @property
    def dimension(self) -> int:
        return len(next(iter(self.vectors.values()))) if self.vectors else 0

    @classmethod
    def compute(
        cls, texts: Sequence[str], vectors: np.ndarray, *, model_id: str, backend: str
    ) -> ShippedVectors:
        """Key ``vectors`` (row ``i`` is the embedding of ``texts[i]``) by their texts."""
        halves = np.asarray(vectors, dtype=np.float16)
        keyed = {text_key(text): row for text, row in zip(texts, halves, strict=True)}
        return cls(model_id, backend, keyed)

    def write(self, path: Path) -> None:
        """Write the file, keys in sorted order so equal contents give equal bytes."""
        keys = sorted(self.vectors)
        header = {
            "format": FORMAT,
            "model_id": self.model_id,
            "backend": self.backend,
            "dimension": self.dimension,
            "count": len(keys),
        }
        rows = np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, 0))
        with Path(path).open("wb") as out:
            out.write(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
            out.write(b"".join(keys))
            out.write(rows.astype("<f2").tobytes())

    def write_quantized(self, path: Path, centroids: np.ndarray, codes: np.ndarray) -> None:
        """Write format 2: ``codes[i]`` (uint8, one per sub-vector) codes the row of the
        ``i``-th key in sorted order against ``centroids`` (``(m, 256, dimension / m)``)."""
        keys = sorted(self.vectors)
        m = int(centroids.shape[0])
        if centroids.shape != (m, PQ_CENTROIDS, self.dimension // m) or codes.shape != (
            len(keys), m
        ):
            raise ValueError(f"centroids {centroids.shape} / codes {codes.shape} do not fit "
                             f"{len(keys)} vectors of dimension {self.dimension}")
        header = {
            "format": FORMAT_PQ,
            "model_id": self.model_id,
            "backend": self.backend,
            "dimension": self.dimension,
            "count": len(keys),
            "pq_m": m,
        }
        with Path(path).open("wb") as out:
            out.write(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
            out.write(b"".join(keys))
            out.write(np.ascontiguousarray(centroids, dtype="<f4").tobytes())
            out.write(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())

    @classmethod
    def read(cls, path: Path) -> ShippedVectors:
        """Parse a file written by :meth:`write`.

        Raises:
            PackFormatError: not this format, or its size disagrees with its header.
        """
        data = Path(path).read_bytes()
        line_end = data.find(b"\n")
        try:
            header = json.loads(data[:line_end])
            count, dimension = int(header["count"]), int(header["dimension"])
            model_id, backend = str(header["model_id"]), str(header["backend"])
            if int(header["format"]) not in (FORMAT, FORMAT_PQ):
                raise ValueError(f"format {header['format']}, expected {FORMAT} or {FORMAT_PQ}")
            if line_end < 0 or count < 0 or dimension < 0:
                raise ValueError("no header line, or a negative count or dimension")
        except (ValueError, KeyError, TypeError) as exc:
            raise PackFormatError(f"{path}: not a shipped-vectors file: {exc!r}") from exc
        body = memoryview(data)[line_end + 1 :]
        try:
            rows = _rows(header, body, count, dimension)
        except (ValueError, KeyError, TypeError) as exc:
            raise PackFormatError(f"{path}: {exc}") from exc
        keys = bytes(body[: count * KEY_BYTES])
        return cls(
            model_id,
            backend,
            {keys[i * KEY_BYTES : (i + 1) * KEY_BYTES]: rows[i] for i in range(count)},
        )

    def matches(self, model_id: str, backend: str) -> bool:
        """Whether these vectors are what ``model_id`` run by ``backend`` computes."""
        return self.model_id == model_id and self.backend == backend

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """Vectors for ``texts`` (float32, unit length) and the indices that have none.

        Rows of missing texts are zero; the caller embeds them.
        """
        found = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            row = self.vectors.get(text_key(text))
            if row is None:
                missing.append(i)
            else:
                found[i] = row
        # float16 rounding leaves rows a hair off unit length; inner product must stay cosine.
        norms = np.linalg.norm(found, axis=1, keepdims=True)
        np.divide(found, norms, out=found, where=norms > 0)
        return found, missing


def _rows(header: dict, body: memoryview, count: int, dimension: int) -> np.ndarray:
    """The ``(count, dimension)`` rows after the keys, float16 (format 1) or decoded from the
    product quantiser's codes (format 2); the body's size is checked against the header first.

    Raises:
        ValueError: the body does not have the size the header promises.
    """
    keys = count * KEY_BYTES
    if int(header["format"]) == FORMAT:
        expected = keys + count * dimension * 2
        if len(body) != expected:
            raise ValueError(f"{len(body)} bytes after the header, expected {expected} for "
                             f"{count} vectors of dimension {dimension}")
        return np.frombuffer(body[keys:], dtype="<f2").reshape(count, dimension)
    m = int(header["pq_m"])
    if m <= 0 or dimension % m:
        raise ValueError(f"pq_m {m} does not divide dimension {dimension}")
    sub = dimension // m
    centroid_bytes = m * PQ_CENTROIDS * sub * 4
    expected = keys + centroid_bytes + count * m
    if len(body) != expected:
        raise ValueError(f"{len(body)} bytes after the header, expected {expected} for {count} "
                         f"vectors of {m} codes")
    centroids = np.frombuffer(body[keys : keys + centroid_bytes], dtype="<f4").reshape(
        m, PQ_CENTROIDS, sub
    )
    codes = np.frombuffer(body[keys + centroid_bytes :], dtype=np.uint8).reshape(count, m)
    # centroids[j, codes[:, j]] for every sub-vector j, side by side: one gather, no loop.
    decoded = centroids[np.arange(m)[None, :], codes]  # (count, m, sub)
    return decoded.reshape(count, dimension).astype(np.float16)
