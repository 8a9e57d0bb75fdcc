"""Intent model versions: what a version is, its files, and whether it fits the served packs.

A version is a complete model directory (weights, tokenizer, label map, calibration, training
config with its data hash, metrics) with an id. Where versions are kept and which one is current
is the version registry's job (:mod:`core.learning.registry`, in the database, so every node
can fetch the current one); this module only turns a directory into files and back, atomically,
and checks a version against the installed packs before a server swaps it in.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import IntentModelError
from core.intents.labels import OUT_OF_SCOPE, builtin_platform_labels, pack_id_of
from core.intents.training import (
    LABEL_MAP_FILE,
    METRICS_FILE,
    TRAINING_CONFIG_FILE,
    staged_model_dir,
)
from core.packs.manifest import PLATFORM_PREFIX

CHUNK_BYTES = 4 * 1024 * 1024  # one database value; a 90 MB model is ~23 of them
MAX_FILES = 64  # a model directory has about a dozen
VERSION_MARKER = ".packdesk-version"  # written last into a materialised directory


@dataclass(frozen=True)
class ModelFile:
    """One file of a version, by its path relative to the model directory."""

    path: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}

    @staticmethod
    def from_dict(value: dict[str, Any]) -> ModelFile:
        return ModelFile(path=str(value["path"]), sha256=str(value["sha256"]),
                         size=int(value["size"]))


@dataclass(frozen=True)
class ModelVersion:
    """A registered intent model version (its files live in the registry)."""

    version_id: str
    created_at: datetime
    status: str
    training_config: dict[str, Any]
    data_sha256: str
    metrics: dict[str, Any]
    labels: list[str]
    files: list[ModelFile]
    parent_version_id: str | None = None
    gate: dict[str, Any] | None = None
    current: bool = False

    @property
    def size(self) -> int:
        return sum(item.size for item in self.files)


@dataclass(frozen=True)
class ModelSummary:
    """What a model directory says about itself (training_config.json, label map, metrics)."""

    labels: list[str]
    training_config: dict[str, Any]
    metrics: dict[str, Any]
    data_sha256: str
    files: list[ModelFile] = field(default_factory=list)


def new_version_id(data_sha256: str) -> str:
    """``<UTC time>-<data hash prefix>-<random>``: sortable by time, unique across nodes."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{data_sha256[:8]}-{secrets.token_hex(3)}"


def summarise_model_dir(model_dir: Path) -> ModelSummary:
    """Read a trained model directory's label map, config, metrics and file list.

    Raises:
        IntentModelError: not a complete model directory.
    """
    model_dir = Path(model_dir)
    try:
        labels = json.loads((model_dir / LABEL_MAP_FILE).read_text(encoding="utf-8"))["labels"]
        config = json.loads((model_dir / TRAINING_CONFIG_FILE).read_text(encoding="utf-8"))
        metrics_path = model_dir / METRICS_FILE
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() \
            else {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntentModelError(f"{model_dir}: not a complete intent model ({exc})") from exc
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise IntentModelError(f"{model_dir}/{LABEL_MAP_FILE}: labels must be a list of strings")
    return ModelSummary(
        labels=labels,
        training_config=config,
        metrics=metrics,
        data_sha256=str(config.get("data_sha256", "")),
        files=model_files(model_dir),
    )


def model_files(model_dir: Path) -> list[ModelFile]:
    """Every regular file of a model directory (hidden files and links excluded), hashed.

    Raises:
        IntentModelError: too many files, or none.
    """
    model_dir = Path(model_dir)
    found: list[ModelFile] = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if any(part.startswith(".") for part in relative.parts) or path.is_symlink():
            continue
        if not path.is_file():
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(block)
        found.append(ModelFile(relative.as_posix(), digest.hexdigest(), path.stat().st_size))
    if not found or len(found) > MAX_FILES:
        raise IntentModelError(f"{model_dir}: expected 1..{MAX_FILES} model files, "
                               f"found {len(found)}")
    return found


def file_chunks(model_dir: Path, item: ModelFile) -> Iterator[bytes]:
    """The bytes of one file in ``CHUNK_BYTES`` pieces."""
    with (Path(model_dir) / item.path).open("rb") as handle:
        yield from iter(lambda: handle.read(CHUNK_BYTES), b"")


def safe_relative_path(path: str) -> PurePosixPath:
    """A stored file path, refused when it could leave the model directory.

    Raises:
        IntentModelError: absolute, empty, ``..`` or hidden parts.
    """
    relative = PurePosixPath(path)
    if (not path or relative.is_absolute() or "\\" in path
            or any(part in ("", ".", "..") or part.startswith(".") for part in relative.parts)):
        raise IntentModelError(f"model file path {path!r} is not a plain relative path")
    return relative


def is_materialised(target: Path, version_id: str) -> bool:
    """True when ``target`` holds the complete files of ``version_id`` (its marker is last)."""
    marker = Path(target) / VERSION_MARKER
    try:
        return marker.read_text(encoding="utf-8").strip() == version_id
    except OSError:
        return False


def write_version_dir(
    target: Path,
    version_id: str,
    files: list[ModelFile],
    read_chunks: Any,
) -> Path:
    """Write a version's files into ``target`` atomically (temp sibling, verify, rename).

    Args:
        read_chunks: ``ModelFile -> iterable of bytes`` in order.
    Raises:
        IntentModelError: a file's bytes do not match its recorded size and SHA-256, or an
            unsafe path; nothing is left behind.
    """
    target = Path(target)
    with staged_model_dir(target) as staging:
        for item in files:
            path = staging / safe_relative_path(item.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            digest, size = hashlib.sha256(), 0
            with path.open("wb") as out:
                for chunk in read_chunks(item):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if size != item.size or digest.hexdigest() != item.sha256:
                raise IntentModelError(
                    f"version {version_id}: file {item.path} is {size} bytes with SHA-256 "
                    f"{digest.hexdigest()[:12]}..., expected {item.size} bytes and "
                    f"{item.sha256[:12]}..."
                )
        (staging / VERSION_MARKER).write_text(version_id + "\n", encoding="utf-8")
    return target


def label_problem(
    version_labels: Iterable[str],
    expected_labels: Collection[str],
    served_pack_ids: Collection[str],
) -> str | None:
    """Why a version cannot serve these packs, or None when it can.

    It must know every label of the installed packs (else it is stale: trained before a pack
    was added) and may know more only for packs that are served (labels learned from
    conversations) or for the platform. The built-in platform labels never matter.
    """
    builtin = builtin_platform_labels()
    have = set(version_labels) - builtin
    missing = sorted(set(expected_labels) - builtin - have)
    if missing:
        return f"it lacks labels of installed packs: {missing[:10]}"
    foreign = sorted(
        label for label in have - set(expected_labels)
        if label != OUT_OF_SCOPE and pack_id_of(label) not in served_pack_ids
        and not label.startswith(PLATFORM_PREFIX + ":")
    )
    if foreign:
        return f"it has labels of packs that are not served: {foreign[:10]}"
    return None
