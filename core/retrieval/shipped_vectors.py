"""Chunk vectors computed once and shipped with the pack source they were computed from.

Embedding every chunk of a large pack is most of a first run's time. A pack source may carry
:data:`core.packs.builder.SHIPPED_VECTORS_FILE`: a vector per chunk text, labelled with the
embedding model id and inference backend that computed them and keyed by a hash of the text
embedded. The index builder reuses a vector only when the model and backend are the configured
embedder's and the chunk's text hashes to the same key; any other chunk is embedded again, so a
stale or foreign file costs time, never correctness.

File layout (little-endian): one JSON line (``format``, ``model_id``, ``backend``,
``dimension``, ``count``), then ``count`` keys of :data:`KEY_BYTES` bytes, then ``count`` rows of
``dimension`` float16 values. float16 halves the size; the rounding (about 1e-3 of a unit vector's
components) moves cosine scores by far less than the difference between two backends.
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
            if int(header["format"]) != FORMAT:
                raise ValueError(f"format {header['format']}, expected {FORMAT}")
        except (ValueError, KeyError, TypeError) as exc:
            raise PackFormatError(f"{path}: not a shipped-vectors file: {exc!r}") from exc
        body = memoryview(data)[line_end + 1 :]
        expected = count * KEY_BYTES + count * dimension * 2
        if line_end < 0 or len(body) != expected or count < 0 or dimension < 0:
            raise PackFormatError(
                f"{path}: {len(body)} bytes after the header, expected {expected} "
                f"for {count} vectors of dimension {dimension}"
            )
        keys = bytes(body[: count * KEY_BYTES])
        rows = np.frombuffer(body[count * KEY_BYTES :], dtype="<f2").reshape(count, dimension)
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
