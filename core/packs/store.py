"""Installed packs: ``<packs_dir>/<pack_id>/<version>/``, installed atomically, verified at load.

An install extracts into a temporary directory inside ``packs_dir`` (same filesystem), verifies
the extracted files against the trust store and only then renames the directory into place, so
a failed install leaves nothing behind and a reader never sees a half-written pack.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import Conflict, PackNotFound
from core.packs.documents import Document
from core.packs.documents_io import read_documents
from core.packs.manifest import DOCUMENTS_FILE, INDEX_DIR, Manifest
from core.packs.signing import TrustStore
from core.packs.verify import (
    VerifiedPack,
    extract_verified,
    read_signed_manifest,
    verify_directory,
)
from core.packs.versions import sort_versions, version_key
from core.settings import ArchiveLimits, Settings

logger = logging.getLogger("packdesk.packs")

_TEMP_PREFIX = ".tmp-"  # work directories inside packs_dir; never listed as packs


@dataclass(frozen=True)
class InstalledPack:
    """A verified pack on disk."""

    manifest: Manifest
    root: Path
    key_id: str

    @property
    def pack_id(self) -> str:
        return self.manifest.id

    @property
    def index_dir(self) -> Path:
        return self.root / INDEX_DIR

    def documents(self) -> list[Document]:
        """The pack's documents, in file order."""
        return read_documents(
            self.root / DOCUMENTS_FILE, source=f"{self.manifest.id}/{DOCUMENTS_FILE}"
        )


class PackStore:
    """Installs, lists and removes packs under ``settings.packs_dir``."""

    def __init__(self, settings: Settings, *, trust: TrustStore | None = None) -> None:
        """
        Args:
            settings: gives ``packs_dir``, ``trust_dir`` and the archive limits.
            trust: overrides the trust store read from ``settings.trust_dir``.
        """
        self._settings = settings
        self._trust = trust

    @property
    def packs_dir(self) -> Path:
        return self._settings.packs_dir

    @property
    def trust_dir(self) -> Path:
        return self._settings.trust_dir

    @property
    def limits(self) -> ArchiveLimits:
        return self._settings.archive_limits

    def trust(self) -> TrustStore:
        """The trust store: the override, else every ``.pub`` in ``trust_dir`` (read afresh)."""
        if self._trust is not None:
            return self._trust
        trust_dir = self._settings.trust_dir
        return TrustStore.load(trust_dir) if trust_dir.is_dir() else TrustStore()

    def install(self, archive: Path) -> InstalledPack:
        """Verify and install a ``.kpack``.

        Returns:
            The installed pack (the existing one when the same id and version is already
            installed with identical content).
        Raises:
            Conflict: the same id and version is installed with different content.
            ValidationError: the version cannot be ordered
                (:func:`~core.packs.versions.version_key`), so the store could never list it.
            Every archive and verification error of :func:`~core.packs.verify.verify_pack`;
            on any error nothing is left in ``packs_dir``.
        """
        self.packs_dir.mkdir(parents=True, exist_ok=True)
        trust = self.trust()
        work = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=self.packs_dir))
        try:
            staged = work / "pack"
            # Manifest and signature first; then each file checked against the signed manifest
            # as it is written.
            extract_verified(archive, staged, trust, self._settings.archive_limits)
            # Verify what was extracted, not a separate read of the archive: it is exactly
            # what gets renamed into place.
            verified = verify_directory(staged, trust)
            version_key(verified.manifest.version)
            target = self._version_dir(verified.manifest.id, verified.manifest.version)
            if target.exists():
                return self._existing(target, verified, trust)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staged, target)
            except OSError:
                if target.exists():  # a concurrent install of the same version won the race
                    return self._existing(target, verified, trust)
                raise
            return InstalledPack(manifest=verified.manifest, root=target, key_id=verified.key_id)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def installed_from(self, archive: Path) -> InstalledPack | None:
        """The installed pack that installing ``archive`` would leave unchanged, else None.

        That is: the archive's id and version are installed with the same signed control files
        (the manifest, which names every other file by its SHA-256, and its signature). Only the
        archive's control files are read and checked, and the installed files are not hashed
        again: they are verified whenever the pack is loaded (:meth:`get`, :meth:`installed`).
        ``packdesk prepare`` asks this first, so a later start does not extract and re-hash
        every pack it installed before (2.1 s of a 3.3 s ``prepare`` for the built-in packs).

        Raises:
            Every error of :func:`~core.packs.verify.read_signed_manifest`.
        """
        manifest, key_id, control = read_signed_manifest(archive, self.trust(), self.limits)
        if manifest.version not in self.versions(manifest.id):
            return None
        target = self._version_dir(manifest.id, manifest.version)
        for name, data in control.items():
            installed = target / name
            if not installed.is_file() or installed.stat().st_size != len(data):
                return None
            if installed.read_bytes() != data:
                return None
        return InstalledPack(manifest=manifest, root=target, key_id=key_id)

    def installed(self) -> list[InstalledPack]:
        """The latest installed version of each pack, each verified again.

        Raises:
            PackVerificationError (or an archive error naming the file) when an installed
            pack was altered on disk; a broken pack is never served.
        """
        if not self.packs_dir.is_dir():
            return []
        packs = []
        for pack_dir in self._pack_dirs():
            versions = self.versions(pack_dir.name)
            if versions:  # a directory holding no version (see versions()) is not a pack
                packs.append(self._load(self._version_dir(pack_dir.name, versions[-1])))
        return packs

    def get(self, pack_id: str) -> InstalledPack:
        """The latest installed version of ``pack_id``, verified.

        Raises:
            PackNotFound: no version of ``pack_id`` is installed.
        """
        versions = self.versions(pack_id)
        if not versions:
            raise PackNotFound(f"pack {pack_id!r} is not installed")
        return self._load(self._version_dir(pack_id, versions[-1]))

    def pack_ids(self) -> list[str]:
        """Ids of the packs with a directory in the store, sorted (a pack may hold no version)."""
        if not self.packs_dir.is_dir():
            return []
        return [path.name for path in self._pack_dirs()]

    def load_version(self, pack_id: str, version: str) -> InstalledPack:
        """One installed version, verified again (every file re-hashed).

        Raises:
            PackNotFound: that version is not installed.
            PackVerificationError (or an archive error naming the file): altered on disk.
        """
        if version not in self.versions(pack_id):
            raise PackNotFound(f"pack {pack_id!r} version {version!r} is not installed")
        return self._load(self._version_dir(pack_id, version))

    def sweep_work_dirs(self, *, older_than_s: float) -> list[Path]:
        """Delete the work directories (``.tmp-*``) an install or removal interrupted by a crash
        left behind, when untouched for ``older_than_s`` seconds (a running install's is newer).

        Returns:
            The directories removed.
        """
        if not self.packs_dir.is_dir():
            return []
        cutoff = time.time() - older_than_s
        removed = []
        for path in self.packs_dir.glob(f"{_TEMP_PREFIX}*"):
            try:
                if _newest_mtime(path) < cutoff:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed.append(path)
            except OSError as exc:  # raced with another process's sweep, or not ours
                logger.warning("could not remove leftover %s: %s", path, exc)
        return removed

    def versions(self, pack_id: str) -> list[str]:
        """Installed versions of ``pack_id``, oldest first (:mod:`core.packs.versions` order).

        A directory whose name is not a version (nothing the store writes) is left out with a
        warning: it is never served, and it does not stop the other versions from loading.
        """
        pack_dir = self.packs_dir / pack_id
        if "/" in pack_id or pack_id.startswith(".") or not pack_dir.is_dir():
            return []
        names = [p.name for p in pack_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sort_versions(names, source=f"directory in {pack_dir}")

    def remove(self, pack_id: str, version: str) -> None:
        """Uninstall one version; the directory disappears at once (rename, then delete).

        Raises:
            PackNotFound: that version is not installed.
        """
        if version not in self.versions(pack_id):
            raise PackNotFound(f"pack {pack_id!r} version {version!r} is not installed")
        target = self._version_dir(pack_id, version)
        doomed = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=self.packs_dir))
        os.rename(target, doomed / "pack")
        shutil.rmtree(doomed, ignore_errors=True)
        try:
            target.parent.rmdir()  # only succeeds when no other version is left
        except OSError:
            pass

    def _pack_dirs(self) -> list[Path]:
        return sorted(
            p for p in self.packs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def _version_dir(self, pack_id: str, version: str) -> Path:
        return self.packs_dir / pack_id / version

    def _load(self, root: Path) -> InstalledPack:
        verified = verify_directory(root, self.trust())
        return InstalledPack(manifest=verified.manifest, root=root, key_id=verified.key_id)

    def _existing(self, target: Path, new: VerifiedPack, trust: TrustStore) -> InstalledPack:
        """Reinstalling the same version: a no-op when identical, a Conflict otherwise."""
        current = verify_directory(target, trust)
        if current.manifest.canonical_bytes() != new.manifest.canonical_bytes():
            raise Conflict(
                f"pack {new.manifest.id!r} version {new.manifest.version!r} is already "
                "installed with different content; publish a new version instead"
            )
        return InstalledPack(manifest=current.manifest, root=target, key_id=current.key_id)


def _newest_mtime(path: Path) -> float:
    """The latest modification time in a tree: a work directory being filled is recent."""
    newest = path.lstat().st_mtime
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest
