"""The publish and review workflow: accept a signed upload as pending, approve, reject or
withdraw it.

Uploaded packs are data only: they are read with the hostile-archive reader, verified against
the uploading publisher's own keys, and never imported or executed. Approval installs the
version (verified again, against the trust directory) and loads it, and only then marks it
approved and prices it: a version that does not install or load stays pending, and nothing of it
stays on disk. Rejecting an approved version, or withdrawing one, uninstalls it and serves the
newest approved version left (``on_changed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import (
    Conflict,
    IndexMismatch,
    NotFound,
    PackDeskError,
    PackLoadFailed,
    PackNotFound,
    UnknownSigningKey,
)
from core.packs.files import write_atomic
from core.packs.manifest import check_publishable
from core.packs.signing import TrustStore, public_key_from_pem_or_raw, public_key_pem
from core.packs.verify import verify_pack

logger = logging.getLogger("packdesk.publishing")

# A leftover (an upload's .part file, an install's work directory) untouched for this long was
# left by a crash: a running upload or install keeps touching its files.
LEFTOVER_AGE_S = 600.0

if TYPE_CHECKING:
    from core.ledger.accounts import AccountService
    from core.ledger.catalog import CatalogService, PackVersionInfo
    from core.ledger.fulfilment import BillingService
    from core.ledger.payouts import PayoutService
    from core.packs.store import InstalledPack, PackStore
    from core.publishing.replication import PackReplication
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
        on_changed: Callable[[str], Awaitable[object]] | None = None,
        platform_pack_ids: Collection[str] = frozenset(),
        payouts: PayoutService | None = None,
        replication: PackReplication | None = None,
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
            on_approved: makes an installed pack being approved live (searchable and
                routable); called before the approval is recorded, and raises when the pack
                cannot be loaded.
            on_changed: a version of this pack id was uninstalled (withdrawn, rejected, or an
                approval undone): serve the newest approved installed version, or none.
            platform_pack_ids: pack ids the operator allows to declare platform intents
                (``PACKDESK_PLATFORM_PACK_IDS``); every other upload claiming one is refused.
            payouts: publishers' payout accounts: a paid third-party version is approved only
                when its publisher can receive payouts (the server always passes it).
            replication: the shared store of a multi-node deployment: uploads and trusted keys
                are kept there too, so any node can approve and every node can install.
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
        self._on_changed = on_changed
        self._platform_pack_ids = frozenset(platform_pack_ids)
        self._payouts = payouts
        self._replication = replication

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
            PlatformIntentNotAllowed, UnknownPlaceholder: what an uploaded pack may not declare
                (:func:`core.packs.manifest.check_publishable`).
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
        check_publishable(
            manifest,
            source=f"{upload.name}/manifest.json",
            platform_allowed=manifest.id in self._platform_pack_ids,
        )
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
        shared = False
        try:
            shared = await self._share_upload(manifest.id, manifest.version, stored)
            info = await self._catalog.submit_version(account_id, manifest, str(stored))
        except BaseException:
            if shared:
                await self._replication.unshare_archive(manifest.id, manifest.version)  # type: ignore[union-attr]
            _give_back(stored, upload)  # no partial state: a refused upload stores nothing
            raise
        return UploadAccepted(
            pack_id=info.pack_id, version=info.version, status=info.status, key_id=verified.key_id
        )

    async def approve(
        self, pack_id: str, version: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Install a pending version and load it, then mark it approved (audited with the
        approver) and sync its price.

        Raises:
            PackNotFound: no such version. Conflict: the version is not pending.
            PackVerificationError / PackFormatError: the stored archive no longer verifies
                against its publisher's keys.
            PackLoadFailed: installed and verified, but it cannot be loaded (e.g. no index).
            PayoutsNotEnabled: a paid version whose publisher cannot receive payouts.
            In every case the version stays pending and nothing of it stays installed or
            trusted.
        """
        info = await self._catalog.get_version(pack_id, version)
        if info.status != "pending":
            raise Conflict(f"pack {pack_id} version {version} is {info.status}, not pending")
        if info.archive_path is None:  # every upload has one; only built-ins lack it
            raise Conflict(f"pack {pack_id} version {version} has no archive to install")
        publisher_account = await self._catalog.publisher_of(pack_id)
        if self._payouts is not None and publisher_account and info.pricing_model != "free":
            # Before anything is installed: a refusal leaves the version pending, untouched.
            await self._payouts.require_payouts(
                publisher_account, what=f"pack {pack_id} version {version} cannot be approved"
            )
        publisher_keys = (
            await self._accounts.publisher_public_keys(publisher_account)
            if publisher_account
            else {}
        )
        trust = TrustStore.from_keys(
            public_key_from_pem_or_raw(raw) for raw in publisher_keys.values()
        )
        archive = await self._local_archive(pack_id, version, Path(info.archive_path))
        verified = await asyncio.to_thread(verify_pack, archive, trust, self._limits)
        check_publishable(
            verified.manifest,
            source=f"{archive.name}/manifest.json",
            platform_allowed=verified.manifest.id in self._platform_pack_ids,
        )
        # Approval is the operator trusting this publisher key for installed packs: the store
        # re-verifies every installed pack against the trust directory at each load.
        newly_trusted = await asyncio.to_thread(
            self._trust_key, verified.key_id, publisher_keys[verified.key_id]
        )
        if self._replication is not None:  # every node trusts it too
            await self._replication.share_trust(
                _trust_file(verified.key_id),
                public_key_pem(public_key_from_pem_or_raw(publisher_keys[verified.key_id])),
            )
        still_registered = publisher_account is not None and verified.key_id in (
            await self._accounts.publisher_public_keys(publisher_account)
        )
        if not still_registered:
            # Revoked while this approval ran: the revocation may have removed the trust file
            # before it was written here.
            await self._remove_trust(verified.key_id)
            raise UnknownSigningKey(
                f"publisher key {verified.key_id} was revoked while pack {pack_id} version "
                f"{version} was being approved; it stays pending"
            )
        try:
            installed = await asyncio.to_thread(self._store.install, archive)
        except BaseException:
            await self._untrust(verified.key_id, newly_trusted)
            raise
        try:
            try:
                await self._on_approved(installed)
            except PackDeskError as exc:
                raise PackLoadFailed(_load_failure(pack_id, version, exc.message)) from exc
            except Exception as exc:  # an index backend's own error: still the pack's fault
                raise PackLoadFailed(_load_failure(pack_id, version, repr(exc))) from exc
            approved = await self._catalog.approve(
                pack_id, version, admin_account_id=admin_account_id
            )
        except BaseException:
            # Not approved: nothing of it stays installed or trusted, and whatever was served
            # before is served again.
            await self._uninstall(pack_id, version)
            await self._untrust(verified.key_id, newly_trusted)
            raise
        if version != (await asyncio.to_thread(self._store.versions, pack_id))[-1]:
            await self._changed(pack_id)  # an older version approved: the newest stays served
        await self._billing.sync_price(pack_id, version)
        return approved

    async def reject(
        self, pack_id: str, version: str, reason: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Reject a version with a reason the publisher sees (audited with the rejecter). An
        approved version rejected is uninstalled, and the newest approved one left is served.

        Raises:
            ValidationError: an empty reason. PackNotFound: no such version.
            Conflict: the version was withdrawn.
        """
        before = await self._catalog.get_version(pack_id, version)
        rejected = await self._catalog.reject(
            pack_id, version, reason, admin_account_id=admin_account_id
        )
        if before.status == "approved":
            await self._uninstall(pack_id, version)
        if self._replication is not None:  # never installed anywhere again
            await self._replication.unshare_archive(pack_id, version)
        return rejected

    async def withdraw(
        self, pack_id: str, version: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Withdraw a version for good (audited with the admin): out of the catalog, no longer
        served, uninstalled; the newest approved version left is served instead, if any.

        Raises:
            PackNotFound: no such version. Conflict: it was withdrawn already.
        """
        withdrawn = await self._catalog.withdraw(
            pack_id, version, admin_account_id=admin_account_id
        )
        await self._uninstall(pack_id, version)
        if self._replication is not None:
            await self._replication.unshare_archive(pack_id, version)
        return withdrawn

    async def revoke_key(self, account_id: str, key_id: str) -> None:
        """Revoke one of a publisher's signing keys: it verifies no new upload or approval, and
        its trust file goes, so installed versions signed by it fail verification at their next
        load (and are skipped). They stay approved in the ledger until withdrawn.

        Raises:
            NotFound: no such key of this publisher. Conflict: revoked already.
        """
        try:
            await self._accounts.revoke_publisher_key(account_id, key_id)
        except Conflict:
            # Revoked already: remove a trust file that a crash right after the revocation
            # left, then say so.
            await self._remove_trust(key_id)
            raise
        await self._remove_trust(key_id)

    def sweep_leftovers(self, *, older_than_s: float = LEFTOVER_AGE_S) -> list[Path]:
        """Delete what a crash left: uploads being received (``*.part``), install work
        directories (``.tmp-*``) and half-written trust files, untouched for ``older_than_s``.

        Returns:
            The paths removed.
        """
        cutoff = time.time() - older_than_s
        removed = self._store.sweep_work_dirs(older_than_s=older_than_s)
        leftovers = [*self._uploads_dir.glob("*.part"), *self._trust_dir.glob(".*.part")]
        for path in leftovers:
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except OSError as exc:  # another process swept it first
                logger.warning("could not remove leftover %s: %s", path, exc)
        for path in removed:
            logger.info("removed %s, left by an interrupted upload or install", path)
        return removed

    async def _uninstall(self, pack_id: str, version: str) -> None:
        try:
            await asyncio.to_thread(self._store.remove, pack_id, version)
        except PackNotFound:
            pass  # never installed (or already removed)
        await self._changed(pack_id)

    async def _share_upload(self, pack_id: str, version: str, archive: Path) -> bool:
        """Put an accepted upload in the shared store; True when this call stored it."""
        if self._replication is None:
            return False
        if await self._replication.share_archive(pack_id, version, archive):
            return True
        try:
            await self._catalog.get_version(pack_id, version)
        except PackNotFound:
            # No such version, yet an archive: left by a crash between sharing and recording.
            return await self._replication.share_archive(pack_id, version, archive, replace=True)
        return False  # a duplicate version: submitting refuses it, the stored archive stays

    async def _local_archive(self, pack_id: str, version: str, archive: Path) -> Path:
        """The upload's archive on this node: fetched from the shared store when it was
        uploaded through another node."""
        if archive.is_file() or self._replication is None:
            return archive
        local = self._uploads_dir / archive.name
        if not local.is_file():
            try:
                await self._replication.fetch_archive(pack_id, version, local)
            except NotFound as exc:
                raise Conflict(
                    f"pack {pack_id} version {version}: its archive is neither on this node nor "
                    "in the shared store"
                ) from exc
        return local

    async def _remove_trust(self, key_id: str) -> None:
        await asyncio.to_thread(self._remove_trust_file, key_id)
        if self._replication is not None:
            await self._replication.unshare_trust(_trust_file(key_id))

    async def _untrust(self, key_id: str, newly_trusted: bool) -> None:
        await asyncio.to_thread(self._untrust_key, key_id, newly_trusted)
        if newly_trusted and self._replication is not None:
            await self._replication.unshare_trust(_trust_file(key_id))

    async def _changed(self, pack_id: str) -> None:
        if self._on_changed is not None:
            await self._on_changed(pack_id)

    async def list_versions(self, publisher_account_id: str) -> list[PackVersionInfo]:
        """Every version this publisher uploaded, with its review status and reason."""
        return await self._catalog.list_versions(publisher_account_id)

    def _trust_key(self, key_id: str, raw_key: bytes) -> bool:
        """Trust a publisher key for installed packs; True when this call wrote the file."""
        trusted = self._trust_dir / _trust_file(key_id)
        if trusted.exists():
            return False
        # Written aside, synced, then renamed: the store reads every *.pub in the directory at
        # each load, and must never meet a half-written key file, even after a crash.
        write_atomic(trusted, public_key_pem(public_key_from_pem_or_raw(raw_key)))
        return True

    def _untrust_key(self, key_id: str, newly_trusted: bool) -> None:
        """Undo :meth:`_trust_key` when it wrote the file (an approval that did not happen)."""
        if newly_trusted:
            self._remove_trust_file(key_id)

    def _remove_trust_file(self, key_id: str) -> None:
        """Stop trusting a publisher key for installed packs (a key trusted by hand with
        ``packdesk keys trust``, ``<key_id>.pub``, is the operator's and stays)."""
        (self._trust_dir / _trust_file(key_id)).unlink(missing_ok=True)


def _trust_file(key_id: str) -> str:
    """The trust directory's file of a publisher key trusted by approval."""
    return f"publisher-{key_id}.pub"


def _load_failure(pack_id: str, version: str, reason: str) -> str:
    return (
        f"pack {pack_id} version {version} verifies but cannot be loaded for search: {reason}; "
        "it stays pending and is not installed (rebuild it with its index and upload a new "
        "version)"
    )


def _sha256_prefix(path: Path) -> str:
    with path.open("rb") as upload:  # streamed: uploads may be hundreds of megabytes
        return hashlib.file_digest(upload, "sha256").hexdigest()[:16]


def _give_back(stored: Path, upload: Path) -> None:
    """Move a refused upload back where it came from (else delete it): nothing stays stored."""
    try:
        os.replace(stored, upload)
    except OSError:
        stored.unlink(missing_ok=True)
