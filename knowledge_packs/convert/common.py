"""Helpers every converter shares: reading the gzip copies, deterministic sampling, slugs."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from core.packs.documents import Document
from core.packs.manifest import Intent

PACKS_ROOT = Path(__file__).resolve().parent.parent
MAX_EXAMPLES_PER_INTENT = 60
T = TypeVar("T")


@dataclass(frozen=True)
class PackContent:
    """What a converter produces: indexed documents, intents and the license files to ship.

    ``shipped_vectors``: a ``vectors.shipped`` file of chunk vectors computed once
    (``python -m knowledge_packs.shipped_vectors``), copied into the source for the index builder.
    """

    documents: list[Document]
    intents: list[Intent]
    license_files: list[Path] = field(default_factory=list)
    shipped_vectors: Path | None = None


def stable_hash(text: str) -> str:
    """SHA-256 hex of ``text``: the sort key of every deterministic sample here."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sample(items: Iterable[T], limit: int, key: Callable[[T], str], salt: str = "") -> list[T]:
    """Up to ``limit`` items, chosen by the hash of ``salt + key(item)``: same input, same pick."""
    ranked = sorted(items, key=lambda item: stable_hash(salt + key(item)))
    return ranked[:limit]


def unique_examples(
    texts: Iterable[str], limit: int = MAX_EXAMPLES_PER_INTENT, salt: str = ""
) -> list[str]:
    """Distinct (case- and space-insensitive), non-blank examples, deterministically capped."""
    seen: dict[str, str] = {}
    for text in texts:
        cleaned = " ".join(text.split())
        if cleaned and cleaned.lower() not in seen:
            seen[cleaned.lower()] = cleaned
    return sample(seen.values(), limit, key=lambda text: text, salt=salt)


def slug(text: str) -> str:
    """An intent name: words joined by "_" (``Bank accounts``: ``bank_accounts``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_csv_gz(path: Path) -> list[dict[str, str]]:
    # The csv module, not line splitting: BANKING77 and Bitext texts hold quoted newlines.
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_gzip(path: Path, payload: bytes) -> None:
    """Gzip ``payload`` reproducibly: no file name and a zero timestamp in the header."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    path.write_bytes(buffer.getvalue())


def fill_templates(templates: Sequence[str], subjects: Sequence[str], salt: str) -> list[str]:
    """Pair each subject with a template in rotation, so every template is used evenly.

    Subjects are walked in hash order and the template index advances with them, giving a
    varied mix of wordings and subjects rather than one template per intent.
    """
    ordered = sample(subjects, len(subjects), key=lambda subject: subject, salt=salt)
    return [templates[i % len(templates)].format(x=subject) for i, subject in enumerate(ordered)]


def normalized(text: str) -> str:
    """Lower-case words separated by single spaces: the form leak checks compare."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def unleaked_questions(title: str, text: str, questions: Iterable[str]) -> list[str]:
    """The eval questions the indexed text (title + text) does not already contain verbatim.

    Retrieval evaluation must not be answerable by string matching the question; the few
    questions an answer repeats in its own prose ("scientists do not know what causes X")
    are left out of the evaluation set rather than altering the answer.
    """
    indexed = normalized(f"{title} {text}")
    return [question for question in questions if normalized(question) not in indexed]
