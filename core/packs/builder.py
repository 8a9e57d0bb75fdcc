"""Building a signed ``.kpack`` from an authored pack directory.

The source directory holds ``manifest.json`` (its ``files`` table is ignored and recomputed),
``documents.jsonl`` and any other data files (LICENSE, ...). An ``index/`` directory or a
signature in the source is ignored: the index is rebuilt by the optional
:class:`PackIndexBuilder` and the pack is signed afresh. A :data:`SHIPPED_VECTORS_FILE` in the
source is an input of the index builder (chunk vectors computed once, see
``core.retrieval.shipped_vectors``), never a file of the pack: the index holds the vectors.
The index-builder role is declared here, with the pack builder that needs it; the retrieval
engine's ``PackIndexer`` fills it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

import pydantic

from core.errors import ManifestInvalid, PackFormatError
from core.packs.archive import (
    TEXT_SUFFIXES,
    check_text_stream,
    safe_entry_name,
    validate_text,
    write_archive,
)
from core.packs.documents import Document
from core.packs.documents_io import read_documents
from core.packs.manifest import (
    DOCUMENTS_FILE,
    INDEX_DIR,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    Manifest,
    canonical_json,
    describe_validation_error,
    parse_manifest,
)
from core.packs.signing import load_private_key, sign
from core.settings import ArchiveLimits


@runtime_checkable
class PackIndexBuilder(Protocol):
    """Builds a pack's search index at pack build time (used by ``packdesk pack build``)."""

    def build(
        self,
        manifest: Manifest,
        documents: list[Document],
        index_dir: Path,
        *,
        shipped_vectors: Path | None = None,
    ) -> None:
        """Write the index files of ``documents`` into ``index_dir`` (which exists, empty).

        Args:
            manifest: the pack's manifest (index settings, embedding model).
            documents: the pack's documents, in file order.
            index_dir: where to write; every file written is hashed into the manifest and so
                covered by the signature.
            shipped_vectors: the source's :data:`SHIPPED_VECTORS_FILE`, passed only when the
                source has one (so builders without the argument still build other sources).
        Raises:
            IndexMismatch: the manifest's ``embedding_model`` differs from this builder's model.
        """
        ...


# A build input of the index builder, not pack content (core.retrieval.shipped_vectors).
SHIPPED_VECTORS_FILE = "vectors.shipped"
# Never copied from the source: rebuilt (index, signature), recomputed (manifest files) or
# consumed by the index builder (shipped vectors).
_REBUILT_TOP_LEVEL = {MANIFEST_FILE, SIGNATURE_FILE, INDEX_DIR, SHIPPED_VECTORS_FILE}


def build_pack(
    source_dir: Path,
    *,
    private_key_path: Path,
    out_path: Path,
    index_builder: PackIndexBuilder | None = None,
) -> Manifest:
    """Validate, index, hash, sign and archive a pack source directory.

    Args:
        source_dir: the authored pack (manifest.json, documents.jsonl, data files).
        private_key_path: PKCS8 PEM Ed25519 key that signs the manifest.
        out_path: where the ``.kpack`` appears (atomically: temp file + ``os.replace``).
        index_builder: writes ``index/`` files, which are hashed and signed like the rest.
    Returns:
        The signed manifest, with its file table.
    Raises:
        SigningKeyError, ManifestInvalid, DocumentInvalid, TextNotUtf8, MalformedJson,
        PackFormatError (missing files, links or special files in the source), and whatever
        the index builder raises (e.g. IndexMismatch).
    """
    private_key = load_private_key(private_key_path)
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise PackFormatError(f"pack source {source_dir} is not a directory")
    manifest = _read_source_manifest(source_dir / MANIFEST_FILE)
    documents_path = source_dir / DOCUMENTS_FILE
    if not documents_path.is_file():
        raise PackFormatError(f"pack source {source_dir} has no {DOCUMENTS_FILE}")
    documents = read_documents(documents_path, source=f"{source_dir.name}/{DOCUMENTS_FILE}")

    with tempfile.TemporaryDirectory(prefix="packdesk-build-") as staging_name:
        staging = Path(staging_name)
        # Copy first and hash the copies: what is hashed is exactly what is archived, even if
        # the source changes meanwhile.
        for relative in _source_files(source_dir):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_dir / relative, target)
        if index_builder is not None:
            index_dir = staging / INDEX_DIR
            index_dir.mkdir()
            shipped = source_dir / SHIPPED_VECTORS_FILE
            if shipped.is_file():
                index_builder.build(manifest, documents, index_dir, shipped_vectors=shipped)
            else:
                index_builder.build(manifest, documents, index_dir)
        table = {relative: _sha256(staging / relative) for relative in _staged_files(staging)}
        limits = ArchiveLimits()
        for relative in table:
            # The reader rejects these names and texts; refuse to build a pack it would reject.
            safe_entry_name(relative)
            if relative.endswith(TEXT_SUFFIXES):
                with (staging / relative).open("rb") as text:
                    check_text_stream(relative, text, limits)
        try:
            signed = Manifest.model_validate({**manifest.model_dump(mode="json"), "files": table})
        except pydantic.ValidationError as exc:
            raise ManifestInvalid(f"{MANIFEST_FILE}: {describe_validation_error(exc)}") from exc
        manifest_bytes = signed.canonical_bytes()
        signature = canonical_json(sign(private_key, manifest_bytes))
        contents: dict[str, Path | bytes] = {name: staging / name for name in table}
        contents[MANIFEST_FILE] = manifest_bytes
        contents[SIGNATURE_FILE] = signature
        write_archive(Path(out_path), contents)
    return signed


def _read_source_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise ManifestInvalid(f"pack source {path.parent} has no {MANIFEST_FILE}")
    raw = path.read_bytes()
    validate_text(f"{path.parent.name}/{MANIFEST_FILE}", raw)
    data = json.loads(raw)
    if isinstance(data, dict):
        data.pop("files", None)  # recomputed from the files actually packed
    return parse_manifest(data, source=f"{path.parent.name}/{MANIFEST_FILE}")


def _source_files(source_dir: Path) -> list[str]:
    """Relative POSIX paths of the data files to pack; dotfiles and rebuilt parts skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(source_dir, followlinks=False):
        relative_dir = Path(dirpath).relative_to(source_dir)
        # Hidden entries (.git, .DS_Store) are authoring noise, never pack content.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and not (relative_dir == Path(".") and d == INDEX_DIR)
        )
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            relative = full.relative_to(source_dir).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise PackFormatError(f"{relative}: links are not allowed in a pack source")
            if name.startswith(".") or stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise PackFormatError(f"{relative}: not a regular file")
            if relative not in _REBUILT_TOP_LEVEL:
                found.append(relative)
    return found


def _staged_files(staging: Path) -> list[str]:
    found = []
    for path in sorted(staging.rglob("*")):
        if path.is_symlink():
            raise PackFormatError(
                f"{path.relative_to(staging).as_posix()}: the index builder wrote a link"
            )
        if path.is_file():
            found.append(path.relative_to(staging).as_posix())
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
