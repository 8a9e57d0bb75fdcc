"""Intent lift: rank a pack's documents by whether they answer the kind of question asked.

Some packs hold several documents about one subject, each answering a different kind of
question: MedQuAD has a condition's symptoms page, its causes page, its treatment page, its
inheritance page. Their text is so alike that retrieval finds the condition but often ranks
the wrong page first (on the whole MedQuAD, 635 of 945 top-1 misses were the right condition's
page for another question type). The pack's intents already name those kinds of question, so
a pack can say which one each document answers, ``metadata["intent"]`` (one of its intent
names), and turn the lift on with ``index.intent_lift`` in its manifest (a weight in 0..1).

At build time the index keeps, in ``intents.npz``: each intent's centroid (the mean query
vector of its examples, unit length), each chunk's intent (that of its document, or none) and
the weight. At search time the question's own vector gives a distribution over the pack's
intents, ``softmax(cosine to each centroid / TEMPERATURE)``, and a chunk's score moves by
``weight * (p(its intent) - max p)``:

* a chunk of the kind of document the question most likely asks for keeps its score; the
  others drop by up to ``weight``; a chunk of a document that names no intent keeps its score;
* scores never rise, so a lifted pack cannot push out another pack's passages in a search over
  several packs, and the thresholds that read raw cosines (routing) are untouched.

Measured on the medical pack (bench/intent_lift.py; BENCHMARKS.md, "Retrieval", issue 16 third
round): the weight
(0.5, in its manifest) and the temperature were chosen on one half of its 14,946 questions; on
the other half hybrid nDCG@10 goes from 0.8387 to 0.9223 and recall@1 from 0.650 to 0.806.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PackFormatError
from core.packs.documents import Document
from core.retrieval.chunking import Chunk

INTENTS_FILE = "intents.npz"
INTENT_KEY = "intent"  # the document metadata key naming the intent a document answers
NO_INTENT = -1
# Softmax temperature over cosines to the intent centroids; chosen with the weight on half of
# the medical questions (bench/intent_lift.py: 0.02 and 0.03 within 0.1 points at weights
# 0.5-0.7, 0.01 and 0.05 lower).
TEMPERATURE = 0.03

_Key = tuple[str, int]


@dataclass(frozen=True)
class IntentLift:
    """One pack's intent centroids, its chunks' intents and the lift weight."""

    names: tuple[str, ...]
    centroids: np.ndarray  # (intents, dim) float32, unit rows
    chunk_intents: np.ndarray  # (chunks,) int16 indexes into names, NO_INTENT for none
    weight: float
    temperature: float = TEMPERATURE  # not stored: a property of the method, not of a pack

    @classmethod
    def build(
        cls,
        manifest: Any,
        documents: Sequence[Document],
        chunks: Sequence[Chunk],
        embed: Callable[[list[str]], np.ndarray],
    ) -> IntentLift | None:
        """The lift of a pack whose manifest sets ``index.intent_lift``, else None.

        Args:
            embed: the query embedder (the centroids are compared with question vectors).
        Raises:
            PackFormatError: fewer than two intents with examples; a document's
                ``metadata["intent"]`` that is not one of them; no document naming one.
        """
        weight = float(manifest.index.intent_lift)
        if weight <= 0:
            return None
        intents = [intent for intent in manifest.intents if intent.examples]
        if len(intents) < 2:
            raise PackFormatError(
                f"pack {manifest.id!r}: index.intent_lift needs at least two intents with "
                "examples to tell kinds of question apart"
            )
        names = tuple(intent.name for intent in intents)
        position = {name: index for index, name in enumerate(names)}
        document_intent: dict[str, int] = {}
        for document in documents:
            value = document.metadata.get(INTENT_KEY)
            if value is None:
                continue
            if not isinstance(value, str) or value not in position:
                raise PackFormatError(
                    f"pack {manifest.id!r}: document {document.id!r} has "
                    f"metadata.{INTENT_KEY} {value!r}, which is not one of the pack's intents "
                    f"with examples ({', '.join(names)})"
                )
            document_intent[document.id] = position[value]
        if not document_intent:
            raise PackFormatError(
                f"pack {manifest.id!r}: index.intent_lift is set but no document names the "
                f"intent it answers in metadata.{INTENT_KEY}"
            )
        examples = [example for intent in intents for example in intent.examples]
        owners = np.repeat(np.arange(len(intents)), [len(intent.examples) for intent in intents])
        vectors = np.asarray(embed(examples), dtype=np.float32)
        centroids = np.stack([vectors[owners == index].mean(axis=0) for index in range(len(names))])
        centroids /= np.clip(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12, None)
        chunk_intents = np.array(
            [document_intent.get(chunk.document_id, NO_INTENT) for chunk in chunks],
            dtype=np.int16,
        )
        return cls(names, centroids.astype(np.float32), chunk_intents, weight)

    def save(self, index_dir: Path) -> None:
        # Plain arrays only (unicode names, no objects): loaded with allow_pickle=False.
        with (index_dir / INTENTS_FILE).open("wb") as out:
            np.savez(
                out,
                names=np.array(self.names),
                centroids=self.centroids,
                chunk_intents=self.chunk_intents,
                weight=np.array(self.weight, dtype=np.float32),
            )

    @classmethod
    def load(cls, index_dir: Path, *, chunk_count: int, dimension: int) -> IntentLift | None:
        """The lift saved in ``index_dir``, or None when the pack has none.

        Raises:
            PackFormatError: unreadable, or not shaped for this index.
        """
        path = index_dir / INTENTS_FILE
        if not path.is_file():
            return None
        _refuse_compressed_members(path)
        try:
            with np.load(path, allow_pickle=False) as arrays:
                names = tuple(str(name) for name in arrays["names"].tolist())
                centroids = np.ascontiguousarray(arrays["centroids"], dtype=np.float32)
                stored_intents = np.asarray(arrays["chunk_intents"])
                weight = float(arrays["weight"])
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise PackFormatError(f"{path}: unreadable intent lift ({exc})") from exc
        # Checked before any cast: an int64 70000 must not wrap into a valid int16 index.
        if (
            centroids.shape != (len(names), dimension)
            or not np.isfinite(centroids).all()
            or stored_intents.dtype.kind not in "iu"
            or stored_intents.shape != (chunk_count,)
            or (len(stored_intents) and not NO_INTENT <= int(stored_intents.min()))
            or (len(stored_intents) and int(stored_intents.max()) >= len(names))
            or not 0.0 <= weight <= 1.0
        ):
            raise PackFormatError(
                f"{path}: {len(names)} intents, centroids {centroids.shape}, chunk intents "
                f"{stored_intents.shape} ({stored_intents.dtype}) and weight {weight} do not "
                f"fit an index of {chunk_count} chunks of dimension {dimension}"
            )
        return cls(names, centroids, stored_intents.astype(np.int16), weight)

    def probabilities(self, query_vector: np.ndarray) -> np.ndarray:
        """The question's distribution over the pack's intents."""
        logits = (self.centroids @ query_vector) / self.temperature
        exp = np.exp(logits - logits.max())
        return np.asarray(exp / exp.sum(), dtype=np.float32)

    def adjustments(self, query_vector: np.ndarray, chunk_ids: np.ndarray) -> np.ndarray:
        """What to add to each chunk's score: ``weight * (p(intent) - max p)``, 0 for a chunk
        of a document that names no intent; never positive."""
        probabilities = self.probabilities(query_vector)
        intents = self.chunk_intents[chunk_ids]
        moved = self.weight * (probabilities[np.maximum(intents, 0)] - probabilities.max())
        return np.where(intents == NO_INTENT, 0.0, moved)


def _refuse_compressed_members(path: Path) -> None:
    """An uploaded pack's ``intents.npz`` may only hold stored (uncompressed) members, as
    ``np.savez`` writes them: then reading it takes memory linear in the file's size, where a
    deflated member could expand a thousandfold.

    Raises:
        PackFormatError: not a zip file, or a member is compressed.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        packed = [m.filename for m in members if m.compress_type != zipfile.ZIP_STORED]
    except (OSError, zipfile.BadZipFile) as exc:
        raise PackFormatError(f"{path}: unreadable intent lift ({exc})") from exc
    if packed:
        raise PackFormatError(
            f"{path}: member {packed[0]} is compressed; intent lift arrays are stored "
            "uncompressed (np.savez)"
        )


def lifted(
    ranked: Sequence[tuple[_Key, float]],
    lifts: dict[str, IntentLift],
    query_vector: np.ndarray,
) -> list[tuple[_Key, float]]:
    """``ranked`` ((pack_id, chunk_id), score) pairs re-scored by each lifted pack's
    adjustments and sorted again (stable: equal scores keep their order)."""
    scores = [score for _, score in ranked]
    for pack_id, lift in lifts.items():
        rows = [row for row, ((owner, _), _) in enumerate(ranked) if owner == pack_id]
        if not rows:
            continue
        chunk_ids = np.array([ranked[row][0][1] for row in rows], dtype=np.int64)
        for row, moved in zip(rows, lift.adjustments(query_vector, chunk_ids).tolist(),
                              strict=True):
            scores[row] += moved
    order = sorted(range(len(ranked)), key=lambda row: -scores[row])
    return [(ranked[row][0], scores[row]) for row in order]
