"""Preparing an installation: its signing key, then every discovered pack built and installed.

The built-in packs are shipped as sources, never as signed archives: each installation
generates its own Ed25519 key on first run, trusts it, and signs the packs it builds with it,
so no private key ever sits in the repository. Work is skipped when nothing changed: a pack
source is fingerprinted and its archive is rebuilt only when the fingerprint changes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import Conflict
from core.packs.files import write_atomic
from core.packs.manifest import load_manifest
from core.settings import Settings

if TYPE_CHECKING:
    # Only for the annotation: the builder (and its signing dependencies) loads when used.
    from core.packs.builder import PackIndexBuilder

logger = logging.getLogger("packdesk.bootstrap")

INSTALLATION_KEY_NAME = "installation"


@dataclass(frozen=True)
class PreparedPack:
    pack_id: str
    version: str
    archive: Path
    built: bool  # False when an up-to-date archive was reused
    installed: bool  # False when the same version was already installed


def ensure_installation_key(settings: Settings) -> tuple[Path, str]:
    """Return the installation's private key path and key id, generating and trusting it once."""
    from core.packs.signing import generate_keypair, key_id_of, load_private_key, public_key_pem

    private_path = settings.keys_dir / f"{INSTALLATION_KEY_NAME}.key"
    if not private_path.exists():
        private_path, public_path, key_id = generate_keypair(
            settings.keys_dir, name=INSTALLATION_KEY_NAME
        )
        logger.info("generated installation signing key %s", key_id)
    public_key = load_private_key(private_path).public_key()
    key_id = key_id_of(public_key)
    trusted = settings.trust_dir / f"{INSTALLATION_KEY_NAME}-{key_id}.pub"
    if not trusted.exists():
        # Temp file, fsync, rename: the trust directory never holds a half-written key.
        write_atomic(trusted, public_key_pem(public_key))
    return private_path, key_id


def source_fingerprint(source_dir: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(source_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def prepare_packs(
    settings: Settings,
    pack_paths: Iterable[Path],
    *,
    index_builder: PackIndexBuilder | None,
    progress: Callable[[str], None] = lambda message: None,
) -> list[PreparedPack]:
    """Build (when needed), sign and install every pack source; install every ``.kpack``.

    Args:
        pack_paths: authored pack directories or built archives, from the pack sources.
        index_builder: builds each pack's search index; None builds packs without one.
        progress: called with one human line per step.
    """
    from core.packs.builder import build_pack
    from core.packs.store import PackStore

    private_key, _ = ensure_installation_key(settings)
    builds_dir = settings.data_dir / "builds"
    builds_dir.mkdir(parents=True, exist_ok=True)
    store = PackStore(settings)
    prepared = []
    for path in pack_paths:
        built = False
        if path.is_dir():
            manifest = load_manifest(path / "manifest.json")
            archive = (
                builds_dir
                / f"{manifest.id}-{manifest.version}-{source_fingerprint(path)[:16]}.kpack"
            )
            if not archive.exists():
                progress(f"building pack {manifest.id} {manifest.version}")
                build_pack(
                    path,
                    private_key_path=private_key,
                    out_path=archive,
                    index_builder=index_builder,
                )
                built = True
                _remove_stale_builds(builds_dir, manifest.id, keep=archive)
        else:
            archive = path
        installed = _install(store, archive, replace=built, progress=progress)
        prepared.append(
            PreparedPack(
                pack_id=installed.manifest.id,
                version=installed.manifest.version,
                archive=archive,
                built=built,
                installed=True,
            )
        )
    return prepared


def _install(store, archive: Path, *, replace: bool, progress: Callable[[str], None]):  # type: ignore[no-untyped-def]
    if not replace:
        # Installed before from this very archive (a later start): nothing to extract.
        existing = store.installed_from(archive)
        if existing is not None:
            return existing
    try:
        return store.install(archive)
    except Conflict:
        if not replace:
            raise
        # The same version was rebuilt from a changed source (new chunking, fixed data):
        # the freshly built archive replaces the installed copy.
        from core.packs.signing import TrustStore
        from core.packs.verify import verify_pack

        manifest = verify_pack(archive, TrustStore.load(store.trust_dir), store.limits).manifest
        progress(f"replacing installed {manifest.id} {manifest.version} (source changed)")
        store.remove(manifest.id, manifest.version)
        return store.install(archive)


def _remove_stale_builds(builds_dir: Path, pack_id: str, *, keep: Path) -> None:
    # Names are <pack_id>-<version>-<fingerprint>.kpack; match exactly so that "finance" never
    # removes the builds of a pack called "finance-extra".
    own = re.compile(rf"^{re.escape(pack_id)}-\d+\.\d+\.\d+[^-]*-[0-9a-f]{{16}}\.kpack$")
    for old in builds_dir.iterdir():
        if old != keep and own.match(old.name):
            old.unlink()


__all__ = ["PreparedPack", "ensure_installation_key", "prepare_packs", "source_fingerprint"]
