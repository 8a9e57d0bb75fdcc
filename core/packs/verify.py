"""Verifying a pack, shipped (``.kpack``) or installed (an extracted directory).

Steps, in order (docs/pack-format.md): a manifest exists; a signature exists; its key is in the
trust store; the Ed25519 signature holds over the exact manifest bytes; the manifest is valid;
the files present are exactly the files the manifest lists; every file's SHA-256 matches.

An archive is verified manifest first: its ``manifest.json`` and ``signature.json`` are read
and checked before any other entry is decompressed, then the other entries are streamed, each
against the hash the signed manifest lists for it, so unsigned or tampered content is never
parsed and no entry is ever held in memory whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from core.errors import (
    ArchiveSpecialFile,
    ArchiveSymlink,
    ChecksumMismatch,
    FileSetMismatch,
    ManifestInvalid,
    PackNotFound,
    SignatureInvalid,
    SignatureMissing,
    UnknownSigningKey,
)
from core.packs.archive import (
    CONTROL_FILES,
    ArchiveEntry,
    extract_archive,
    read_control_files,
    scan_archive,
)
from core.packs.manifest import (
    DOCUMENTS_FILE,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    Manifest,
    parse_manifest,
)
from core.packs.signing import TrustStore, is_valid_signature, parse_signature
from core.settings import ArchiveLimits

_CONTROL_FILES = CONTROL_FILES
_MAX_LISTED = 5


@dataclass(frozen=True)
class VerifiedPack:
    """A pack whose signature and every file checksum held."""

    manifest: Manifest
    key_id: str
    files: dict[str, ArchiveEntry]  # every file but manifest.json and signature.json


def verify_pack(path: Path, trust: TrustStore, limits: ArchiveLimits) -> VerifiedPack:
    """Verify a ``.kpack`` archive, manifest first, streaming (nothing is written to disk).

    Raises:
        UnsafeArchive, ArchiveCorrupt, TextNotUtf8, MalformedJson, JsonTooLarge,
            ManifestTooLarge, DocumentInvalid: the archive is hostile or malformed (see
            :mod:`core.packs.archive`).
        ManifestInvalid, SignatureMissing, UnknownSigningKey, SignatureInvalid,
        FileSetMismatch, ChecksumMismatch: see :func:`check_pack`.
    """
    path = Path(path)
    manifest, key_id, expected = _signed_manifest(path, trust, limits)
    contents = scan_archive(path, limits, expected=expected, documents_file=DOCUMENTS_FILE)
    return _verified(manifest, key_id, contents.entries)


def extract_verified(
    path: Path, dest_dir: Path, trust: TrustStore, limits: ArchiveLimits
) -> VerifiedPack:
    """Verify a ``.kpack`` manifest first and extract it into ``dest_dir`` (which must not
    exist), each file checked against the signed manifest as it is written.

    On any error ``dest_dir`` is removed again.

    Raises:
        Everything :func:`verify_pack` raises.
    """
    path = Path(path)
    manifest, key_id, expected = _signed_manifest(path, trust, limits)
    entries = extract_archive(
        path, dest_dir, limits, expected=expected, documents_file=DOCUMENTS_FILE
    )
    return _verified(manifest, key_id, entries)


def read_signed_manifest(
    path: Path, trust: TrustStore, limits: ArchiveLimits
) -> tuple[Manifest, str, dict[str, bytes]]:
    """Only the control files of a ``.kpack``, checked (:func:`check_signed_manifest`).

    In an archive the builder wrote they are its first two entries, so nothing else is
    decompressed. Nothing of the other files is checked: a caller that needs them verified
    reads them with :func:`verify_pack` or :func:`extract_verified`.

    Returns:
        The manifest, the signing key id and the exact bytes of ``manifest.json`` and
        ``signature.json``.
    """
    path = Path(path)
    control = read_control_files(path, limits)
    manifest, key_id = check_signed_manifest(
        manifest_bytes=control.get(MANIFEST_FILE),
        signature_bytes=control.get(SIGNATURE_FILE),
        trust=trust,
        source=path.name,
    )
    return manifest, key_id, control


def _signed_manifest(
    path: Path, trust: TrustStore, limits: ArchiveLimits
) -> tuple[Manifest, str, dict[str, str]]:
    """Read and check the control files; return the manifest, the key id and the SHA-256 every
    entry of the archive must have (the control files' own included, so that what the second
    pass reads is what was verified)."""
    manifest, key_id, control = read_signed_manifest(path, trust, limits)
    expected = dict(manifest.files)
    for name, data in control.items():
        expected[name] = hashlib.sha256(data).hexdigest()
    return manifest, key_id, expected


def _verified(manifest: Manifest, key_id: str, entries: dict[str, ArchiveEntry]) -> VerifiedPack:
    files = {name: entries[name] for name in sorted(entries) if name not in _CONTROL_FILES}
    return VerifiedPack(manifest=manifest, key_id=key_id, files=files)


def verify_directory(root: Path, trust: TrustStore) -> VerifiedPack:
    """Verify an installed (extracted) pack directory, re-hashing every file.

    Run at load time so a file altered or truncated after install fails before it is used.

    Raises:
        PackNotFound: ``root`` is not a directory.
        ArchiveSymlink, ArchiveSpecialFile: the directory holds a link or a special file.
        and everything :func:`check_pack` raises.
    """
    root = Path(root)
    if not root.is_dir():
        raise PackNotFound(f"no installed pack at {root}")
    entries: dict[str, ArchiveEntry] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            relative = full.relative_to(root).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise ArchiveSymlink(f"{root.name}/{relative} is a symbolic link")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise ArchiveSpecialFile(f"{root.name}/{relative} is not a regular file")
            entries[relative] = _hash_file(full, relative)
    manifest_path, signature_path = root / MANIFEST_FILE, root / SIGNATURE_FILE
    return check_pack(
        manifest_bytes=manifest_path.read_bytes() if MANIFEST_FILE in entries else None,
        signature_bytes=signature_path.read_bytes() if SIGNATURE_FILE in entries else None,
        entries=entries,
        trust=trust,
        source=str(root),
    )


def check_pack(
    *,
    manifest_bytes: bytes | None,
    signature_bytes: bytes | None,
    entries: dict[str, ArchiveEntry],
    trust: TrustStore,
    source: str,
) -> VerifiedPack:
    """The verification steps shared by archives and directories.

    Raises:
        ManifestInvalid: no manifest.json, or it fails validation.
        SignatureMissing: no signature.json.
        UnknownSigningKey: the signing key id is not in ``trust``.
        SignatureInvalid: malformed signature.json, or the signature does not hold over the
            manifest bytes (the manifest changed after signing).
        FileSetMismatch: files present differ from the manifest's file table (added/removed).
        ChecksumMismatch: a file's SHA-256 differs from the manifest's.
    """
    manifest, key_id = check_signed_manifest(
        manifest_bytes=manifest_bytes, signature_bytes=signature_bytes, trust=trust, source=source
    )
    present = {name for name in entries if name not in _CONTROL_FILES}
    listed = set(manifest.files)
    added, removed = sorted(present - listed), sorted(listed - present)
    if added or removed:
        parts = []
        if added:
            parts.append(f"not in the manifest: {_listing(added)}")
        if removed:
            parts.append(f"missing from the pack: {_listing(removed)}")
        raise FileSetMismatch(f"{source}: files differ from the manifest; " + "; ".join(parts))
    for name in sorted(listed):
        actual = entries[name].sha256
        if actual != manifest.files[name]:
            raise ChecksumMismatch(
                f"{source}: {name} has SHA-256 {actual}, the signed manifest says "
                f"{manifest.files[name]}"
            )
    files = {name: entries[name] for name in sorted(present)}
    return VerifiedPack(manifest=manifest, key_id=key_id, files=files)


def check_signed_manifest(
    *, manifest_bytes: bytes | None, signature_bytes: bytes | None, trust: TrustStore, source: str
) -> tuple[Manifest, str]:
    """The steps on the control files alone: manifest and signature present, key trusted,
    signature valid over the exact manifest bytes, manifest valid and listing documents.jsonl.

    Returns:
        The manifest and the signing key id.
    Raises:
        ManifestInvalid, SignatureMissing, UnknownSigningKey, SignatureInvalid.
    """
    if manifest_bytes is None:
        raise ManifestInvalid(f"{source}: no {MANIFEST_FILE}")
    if signature_bytes is None:
        raise SignatureMissing(f"{source}: no {SIGNATURE_FILE}; the pack is not signed")
    try:
        signature_document = json.loads(signature_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureInvalid(f"{source}/{SIGNATURE_FILE}: not a JSON document") from exc
    key_id, signature = parse_signature(signature_document, source=f"{source}/{SIGNATURE_FILE}")
    public_key = trust.get(key_id)
    if public_key is None:
        trusted = ", ".join(trust.key_ids()) or "none"
        raise UnknownSigningKey(
            f"{source}: signed by key {key_id!r}, which is not trusted (trusted: {trusted})"
        )
    # The signature covers the manifest file's exact bytes, which the builder writes as the
    # canonical form; so any changed byte of manifest.json, whitespace included, fails here.
    if not is_valid_signature(public_key, signature, manifest_bytes):
        raise SignatureInvalid(
            f"{source}: signature by key {key_id!r} does not match {MANIFEST_FILE} "
            "(the manifest changed after signing, or the signature was altered)"
        )
    manifest = parse_manifest(manifest_bytes, source=f"{source}/{MANIFEST_FILE}")
    if DOCUMENTS_FILE not in manifest.files:
        raise ManifestInvalid(f"{source}/{MANIFEST_FILE}: files does not list {DOCUMENTS_FILE}")
    return manifest, key_id


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" (+{len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def _hash_file(path: Path, relative: str) -> ArchiveEntry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return ArchiveEntry(path=relative, size=size, sha256=digest.hexdigest())
