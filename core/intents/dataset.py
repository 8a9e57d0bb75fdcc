"""Training data for the intent classifier: CSV, JSONL or pack manifests, validated row by row.

Every rejection is a :class:`~core.errors.TrainingDataError` naming the file and the 1-based
line of the offending row (the CSV header is line 1), so an operator can fix the file directly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import TrainingDataError
from core.intents.labels import OUT_OF_SCOPE
from core.packs.manifest import PLATFORM_PREFIX, Manifest

MIN_EXAMPLES_PER_LABEL = 2


@dataclass(frozen=True)
class Example:
    """One labelled utterance. ``source`` says where it came from (``file:line``) for errors."""

    text: str
    label: str
    source: str = ""


def load_examples(path: Path) -> list[Example]:
    """Read and validate training data from ``.csv`` (columns text,label) or ``.jsonl``.

    Raises:
        TrainingDataError: unreadable file, unknown format, empty text, missing label, or a
            label with fewer than 2 examples; the message names the file and line.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        examples = _read_csv(path)
    elif suffix == ".jsonl":
        examples = _read_jsonl(path)
    else:
        raise TrainingDataError(f"{path}: unsupported training data format {suffix!r}; "
                                "expected .csv (columns text,label) or .jsonl")
    if not examples:
        raise TrainingDataError(f"{path}: no training rows")
    validate_examples(examples)
    return examples


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TrainingDataError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise TrainingDataError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise TrainingDataError(f"{path}: cannot read ({exc.strerror})") from exc


def _read_csv(path: Path) -> list[Example]:
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    try:
        header = reader.fieldnames or []
        missing = {"text", "label"} - set(header)
        if missing:
            raise TrainingDataError(
                f"{path}:1: header {header!r} lacks column(s) {sorted(missing)}; "
                "expected text,label"
            )
        examples = []
        for row in reader:
            # reader.line_num is the last physical line of the row (texts may hold newlines).
            where = f"{path}:{reader.line_num}"
            examples.append(_example(row.get("text"), row.get("label"), where))
    except csv.Error as exc:
        raise TrainingDataError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from exc
    return examples


def _read_jsonl(path: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainingDataError(f"{where}: malformed JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise TrainingDataError(f"{where}: expected an object with text and label, "
                                    f"got {type(record).__name__}")
        examples.append(_example(record.get("text"), record.get("label"), where))
    return examples


def _example(text: object, label: object, where: str) -> Example:
    if not isinstance(text, str) or not text.strip():
        raise TrainingDataError(f"{where}: empty text (got {text!r})")
    if not isinstance(label, str) or not label.strip():
        raise TrainingDataError(f"{where}: missing label (got {label!r})")
    return Example(text=text.strip(), label=label.strip(), source=where)


def validate_examples(examples: Sequence[Example]) -> None:
    """Check that every row has text and a label and every label has at least 2 examples.

    Raises:
        TrainingDataError: naming the first offending row.
    """
    for example in examples:
        _example(example.text, example.label, example.source or "(in memory)")
    counts = Counter(example.label for example in examples)
    for example in examples:
        if counts[example.label] < MIN_EXAMPLES_PER_LABEL:
            raise TrainingDataError(
                f"{example.source or '(in memory)'}: label {example.label!r} has "
                f"{counts[example.label]} example(s); each label needs at least "
                f"{MIN_EXAMPLES_PER_LABEL}"
            )
    if len([label for label in counts if label != OUT_OF_SCOPE]) < 2:
        raise TrainingDataError(f"need at least 2 intent labels to train, got {sorted(counts)}")


def examples_from_manifests(
    manifests: Iterable[Manifest], *, include_platform: bool = True
) -> list[Example]:
    """Examples for every intent of these packs, plus the built-in platform intents.

    The same ``platform:<intent>`` declared by several packs is one label with the union of
    their examples. ``include_platform`` also adds ``OUT_OF_SCOPE_EXAMPLES`` (calibration only).

    Raises:
        TrainingDataError: an intent ends up with fewer than 2 examples.
    """
    from core.intents.platform import OUT_OF_SCOPE_EXAMPLES, PLATFORM_INTENTS

    by_label: dict[str, dict[str, str]] = defaultdict(dict)  # label -> text -> source
    for manifest in manifests:
        for intent in manifest.intents:
            for text in intent.examples:
                by_label[intent.label(manifest.id)].setdefault(
                    text.strip(), f"pack {manifest.id} intent {intent.name}"
                )
    if include_platform:
        for intent in PLATFORM_INTENTS:
            for text in intent.examples:
                by_label[intent.label(PLATFORM_PREFIX)].setdefault(text, "built-in platform")
        for text in OUT_OF_SCOPE_EXAMPLES:
            by_label[OUT_OF_SCOPE].setdefault(text, "built-in out_of_scope")
    examples = [
        Example(text=text, label=label, source=source)
        for label, texts in sorted(by_label.items())
        for text, source in texts.items()
    ]
    validate_examples(examples)
    return examples


def cap_per_label(
    examples: Sequence[Example], max_per_label: int | None, seed: int
) -> list[Example]:
    """At most ``max_per_label`` examples of each label, sampled reproducibly."""
    if max_per_label is None:
        return list(examples)
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = random.Random(seed)
    capped: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label]
        capped.extend(rng.sample(group, max_per_label) if len(group) > max_per_label else group)
    return capped


def stratified_split(
    examples: Sequence[Example], *, fractions: tuple[float, float], seed: int
) -> tuple[list[Example], list[Example], list[Example]]:
    """Split into train/validation/test keeping every label in each part where it can.

    A label with n >= 3 examples gets at least one validation and one test example and keeps
    at least one for training; a label with 2 gets one train and one validation example.
    ``out_of_scope`` rows go only to validation and test (they are not a trained class).

    Args:
        fractions: (validation, test) shares, e.g. (0.1, 0.1). A zero test share puts nothing
            in test (used when the caller supplies its own test set).
    """
    val_share, test_share = fractions
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = random.Random(seed)
    train: list[Example] = []
    val: list[Example] = []
    test: list[Example] = []
    for label in sorted(by_label):
        group = list(by_label[label])
        rng.shuffle(group)
        n = len(group)
        if label == OUT_OF_SCOPE:
            n_test = round(n * test_share / (val_share + test_share)) if test_share else 0
            test.extend(group[:n_test])
            val.extend(group[n_test:])
            continue
        n_val = max(1, round(n * val_share))
        n_test = max(1, round(n * test_share)) if test_share and n >= 3 else 0
        while n - n_val - n_test < 1:  # always keep one training example
            if n_test > (1 if test_share and n >= 3 else 0):
                n_test -= 1
            else:
                n_val -= 1
        val.extend(group[:n_val])
        test.extend(group[n_val:n_val + n_test])
        train.extend(group[n_val + n_test:])
    return train, val, test


def data_hash(examples: Iterable[Example]) -> str:
    """SHA-256 over the sorted (label, text) pairs: identifies the training data of a model."""
    digest = hashlib.sha256()
    for label, text in sorted((example.label, example.text) for example in examples):
        digest.update(label.encode("utf-8") + b"\x1f" + text.encode("utf-8") + b"\x1e")
    return digest.hexdigest()
