"""The publish and review workflow: accept a signed upload as pending, approve or reject it.

Uploaded packs are data only: they are read with the hostile-archive reader, verified against
the uploading publisher's own keys, and never imported or executed. Approval installs the
version (verified again, against the trust directory), then marks it approved, makes it live
and prices it; the ledger changes after the install, so a version whose install fails stays
pending.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import Conflict, IndexMismatch, UnknownSigningKey
from core.packs.signing import TrustStore, public_key_from_pem_or_raw, public_key_pem
from core.packs.verify import verify_pack

if TYPE_CHECKING:
    from core.ledger.accounts import AccountService
    from core.ledger.catalog import CatalogService, PackVersionInfo
    from core.ledger.fulfilment import BillingService
    from core.packs.store import InstalledPack, PackStore
    from core.settings import ArchiveLimits


@dataclass(frozen=True)
class EmbeddingIdentity:
    """The embedding model this server searches with: an upload's index must match it."""

    model_id: str
    dimension: int


@dataclass(frozen=True)
class UploadAccepted:
    """An upload recorded as a version awaiting review."""

    pack_id: str
    version: str
    status: str
    key_id: str  # the publisher key that signed it


class PublishingService:
    """Accepts publishers' uploads and applies operators' reviews."""

    def __init__(
        self,
        *,
        accounts: AccountService,
        catalog: CatalogService,
        store: PackStore,
        billing: BillingService,
        embedding: EmbeddingIdentity,
        archive_limits: ArchiveLimits,
        uploads_dir: Path,
        trust_dir: Path,
        on_approved: Callable[[InstalledPack], Awaitable[None]],
    ) -> None:
        """
        Args:
            accounts: the publishers' registered signing keys.
            catalog: pack versions and their review status.
            store: installs approved versions; it must read its trust from ``trust_dir``.
            billing: prices an approved version with the billing provider.
            embedding: the model an uploaded pack's index must have been built with.
            archive_limits: the hostile-archive limits an upload is read with.
            uploads_dir: where accepted archives are kept until review (created on demand).
            trust_dir: where approval trusts the publisher's key for installed packs.
            on_approved: makes an approved, installed pack live (searchable and routable).
        """
        self._accounts = accounts
        self._catalog = catalog
        self._store = store
        self._billing = billing
        self._embedding = embedding
        self._limits = archive_limits
        self._uploads_dir = uploads_dir
        self._trust_dir = trust_dir
        self._on_approved = on_approved

    @property
    def uploads_dir(self) -> Path:
        """Where accepted archives are kept. Write an upload here before :meth:`accept_upload`
        so that accepting it is a rename."""
        return self._uploads_dir

    async def accept_upload(self, account_id: str, upload_path: Path | str) -> UploadAccepted:
        """Verify an uploaded archive and record it as a pending version.

        Args:
            account_id: the uploading publisher.
            upload_path: the archive, on the filesystem of :attr:`uploads_dir`. Accepted, it is
                moved into :attr:`uploads_dir`; refused, it is left where it was and nothing
                is stored.
        Raises:
            UnknownSigningKey: signed by a key this publisher has not registered (including a key
                of another publisher).
            PackVerificationError / PackFormatError: a bad signature or a malformed archive.
            IndexMismatch: the pack's index was built with another embedding model.
            ValidationError: the version cannot be ordered (:mod:`core.packs.versions`).
            Conflict: a duplicate version, or a pack id owned by another publisher.
        """
        upload = Path(upload_path)
        keys = await self._accounts.publisher_public_keys(account_id)
        if not keys:
            raise UnknownSigningKey(
                "this publisher has no registered signing key: POST /v1/publisher/keys first"
            )
        trust = TrustStore.from_keys(public_key_from_pem_or_raw(raw) for raw in keys.values())
        verified = await asyncio.to_thread(verify_pack, upload, trust, self._limits)
        manifest = verified.manifest
        built_with = manifest.embedding_model
        served = self._embedding
        if (built_with.id, built_with.dimension) != (served.model_id, served.dimension):
            raise IndexMismatch(
                f"pack index built with {built_with.id} ({built_with.dimension} dimensions); "
                f"this server uses {served.model_id} ({served.dimension}): rebuild the pack"
            )
        digest = await asyncio.to_thread(_sha256_prefix, upload)
        # Unique per upload: a refused duplicate must never overwrite (then delete) the archive
        # of the version it duplicates.
        self._uploads_dir.mkdir(parents=True, exist_ok=True)
        stored = (
            self._uploads_dir
            / f"{manifest.id}-{manifest.version}-{digest}-{secrets.token_hex(4)}.kpack"
        )
        os.replace(upload, stored)
        try:
            info = await self._catalog.submit_version(account_id, manifest, str(stored))
        except BaseException:
            _give_back(stored, upload)  # no partial state: a refused upload stores nothing
            raise
        return UploadAccepted(
            pack_id=info.pack_id, version=info.version, status=info.status, key_id=verified.key_id
        )

    async def approve(
        self, pack_id: str, version: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Install a pending version, then mark it approved (audited with the approver), make it
        live and sync its price.

        Raises:
            PackNotFound: no such version. Conflict: the version is not pending.
            PackVerificationError / PackFormatError: the stored archive no longer verifies
                against its publisher's keys (it stays pending).
        """
        info = await self._catalog.get_version(pack_id, version)
        if info.status != "pending":
            raise Conflict(f"pack {pack_id} version {version} is {info.status}, not pending")
        if info.archive_path is None:  # every upload has one; only built-ins lack it
            raise Conflict(f"pack {pack_id} version {version} has no archive to install")
        publisher_account = await self._catalog.publisher_of(pack_id)
        publisher_keys = (
            await self._accounts.publisher_public_keys(publisher_account)
            if publisher_account
            else {}
        )
        trust = TrustStore.from_keys(
            public_key_from_pem_or_raw(raw) for raw in publisher_keys.values()
        )
        archive = Path(info.archive_path)
        verified = await asyncio.to_thread(verify_pack, archive, trust, self._limits)
        # Approval is the operator trusting this publisher key for installed packs: the store
        # re-verifies every installed pack against the trust directory at each load.
        await asyncio.to_thread(self._trust_key, verified.key_id, publisher_keys[verified.key_id])
        installed = await asyncio.to_thread(self._store.install, archive)
        approved = await self._catalog.approve(pack_id, version, admin_account_id=admin_account_id)
        await self._on_approved(installed)
        await self._billing.sync_price(pack_id, version)
        return approved

    async def reject(
        self, pack_id: str, version: str, reason: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Reject a version with a reason the publisher sees (audited with the rejecter).

        Raises:
            ValidationError: an empty reason. PackNotFound: no such version.
            Conflict: the version was withdrawn.
        """
        return await self._catalog.reject(
            pack_id, version, reason, admin_account_id=admin_account_id
        )

    async def list_versions(self, publisher_account_id: str) -> list[PackVersionInfo]:
        """Every version this publisher uploaded, with its review status and reason."""
        return await self._catalog.list_versions(publisher_account_id)

    def _trust_key(self, key_id: str, raw_key: bytes) -> None:
        trusted = self._trust_dir / f"publisher-{key_id}.pub"
        if trusted.exists():
            return
        self._trust_dir.mkdir(parents=True, exist_ok=True)
        pem = public_key_pem(public_key_from_pem_or_raw(raw_key))
        # Written aside, then renamed: the store reads every *.pub in the directory at each
        # load, and must never meet a half-written key file.
        fd, partial = tempfile.mkstemp(dir=self._trust_dir, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            os.replace(partial, trusted)
        finally:
            Path(partial).unlink(missing_ok=True)


def _sha256_prefix(path: Path) -> str:
    with path.open("rb") as upload:  # streamed: uploads may be hundreds of megabytes
        return hashlib.file_digest(upload, "sha256").hexdigest()[:16]


def _give_back(stored: Path, upload: Path) -> None:
    """Move a refused upload back where it came from (else delete it): nothing stays stored."""
    try:
        os.replace(stored, upload)
    except OSError:
        stored.unlink(missing_ok=True)
