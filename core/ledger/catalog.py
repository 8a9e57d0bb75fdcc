"""Packs and their versions: submission, review (approve/reject) and the public catalog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.errors import Conflict, NotFound, PackNotFound, ValidationError
from core.ledger.common import as_utc, audit, utcnow_
from core.ledger.db import Database
from core.ledger.models import Pack, PackVersion
from core.packs.manifest import Manifest
from core.packs.versions import newest_per_pack, version_key

BUILTIN_PUBLISHER = "PackDesk"
STATUSES = ("pending", "approved", "rejected", "withdrawn")


@dataclass(frozen=True)
class PackVersionInfo:
    pack_id: str
    version: str
    status: str
    publisher: str
    archive_path: str | None
    reason: str | None
    pricing_model: str
    amount: int
    currency: str
    submitted_at: datetime
    reviewed_at: datetime | None
    manifest: dict[str, Any]


@dataclass(frozen=True)
class CatalogEntry:
    """One pack as the public sees it: its newest approved version."""

    pack_id: str
    name: str
    domain: str
    description: str
    version: str
    pricing_model: str
    amount: int
    currency: str
    publisher: str
    archive_path: str | None
    manifest: dict[str, Any]

    @property
    def is_free(self) -> bool:
        return self.pricing_model == "free"


class CatalogService:
    """The pack registry: what exists, in which state, and what the public catalog shows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def submit_version(
        self, publisher_account_id: str, manifest: Manifest, archive_path: str
    ) -> PackVersionInfo:
        """Record an uploaded, verified pack version as ``pending``.

        Raises:
            Conflict: the pack id belongs to another publisher, or this version exists already.
            ValidationError: the version cannot be ordered
                (:func:`core.packs.versions.version_key`).
        """
        return await self._add_version(
            manifest, archive_path, publisher_account_id=publisher_account_id, status="pending"
        )

    async def register_builtin(
        self, manifest: Manifest, archive_path: str | None = None
    ) -> PackVersionInfo:
        """Record a built-in pack version as approved (publisher "PackDesk"); idempotent."""
        async with self.db.read() as session:
            existing = await self._version(session, manifest.id, manifest.version)
            if existing is not None:
                pack = await session.get(Pack, manifest.id)
                return _version_info(existing, pack)
        try:
            return await self._add_version(
                manifest, archive_path, publisher_account_id=None, status="approved"
            )
        except Conflict:
            # Another process registered it at the same moment: same outcome.
            return await self.get_version(manifest.id, manifest.version)

    async def _add_version(
        self,
        manifest: Manifest,
        archive_path: str | None,
        *,
        publisher_account_id: str | None,
        status: str,
    ) -> PackVersionInfo:
        from sqlalchemy.exc import IntegrityError

        version_key(manifest.version)  # refused before it is written: listings order every row
        try:
            async with self.db.write() as session:
                pack = await session.get(Pack, manifest.id)
                if pack is None:
                    pack = Pack(
                        pack_id=manifest.id,
                        publisher_account_id=publisher_account_id,
                        publisher_name=manifest.publisher
                        if publisher_account_id
                        else BUILTIN_PUBLISHER,
                    )
                    session.add(pack)
                elif pack.publisher_account_id != publisher_account_id:
                    raise Conflict(f"pack id {manifest.id!r} belongs to another publisher")
                if await self._version(session, manifest.id, manifest.version) is not None:
                    raise Conflict(f"pack {manifest.id} version {manifest.version} already exists")
                row = PackVersion(
                    pack_id=manifest.id,
                    version=manifest.version,
                    status=status,
                    manifest=manifest.model_dump(mode="json"),
                    archive_path=archive_path,
                    pricing_model=manifest.pricing.model,
                    amount=manifest.pricing.amount,
                    currency=manifest.pricing.currency,
                    reviewed_at=utcnow_() if status == "approved" else None,
                )
                session.add(row)
                await session.flush()
                audit(
                    session,
                    "pack.submitted" if status == "pending" else "pack.builtin_registered",
                    account_id=publisher_account_id,
                    pack_id=manifest.id,
                    version=manifest.version,
                )
                return _version_info(row, pack)
        except IntegrityError as exc:  # a concurrent submit of the same id/version won the race
            raise Conflict(f"pack {manifest.id} version {manifest.version} already exists") from exc

    async def approve(
        self, pack_id: str, version: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Approve a pending (or rejected) version: it enters the catalog.

        Args:
            admin_account_id: the approving operator, recorded in the audit row.
        Raises:
            PackNotFound: no such version. Conflict: the version was withdrawn.
        """
        return await self._review(pack_id, version, "approved", None, admin_account_id)

    async def reject(
        self, pack_id: str, version: str, reason: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Reject a version with a reason the publisher sees.

        Args:
            admin_account_id: the rejecting operator, recorded in the audit row.
        Raises:
            ValidationError: an empty reason. PackNotFound, Conflict: as for :meth:`approve`.
        """
        if not reason.strip():
            raise ValidationError("a rejection needs a reason")
        return await self._review(pack_id, version, "rejected", reason.strip(), admin_account_id)

    async def withdraw(
        self, pack_id: str, version: str, *, admin_account_id: str
    ) -> PackVersionInfo:
        """Withdraw a version for good: out of review and out of the catalog.

        Args:
            admin_account_id: the withdrawing operator, recorded in the audit row.
        Raises:
            PackNotFound: no such version. Conflict: it was withdrawn already.
        """
        return await self._review(pack_id, version, "withdrawn", None, admin_account_id)

    async def _review(
        self, pack_id: str, version: str, status: str, reason: str | None, admin_account_id: str
    ) -> PackVersionInfo:
        async with self.db.write() as session:
            row = await self._version(session, pack_id, version)
            if row is None:
                raise PackNotFound(f"pack {pack_id!r} has no version {version!r}")
            if row.status == "withdrawn":
                raise Conflict(f"pack {pack_id} version {version} was withdrawn")
            row.status = status
            row.reason = reason
            row.reviewed_at = utcnow_()
            pack = await session.get(Pack, pack_id)
            # Same transaction as the status change: a review is never recorded without its
            # reviewer, nor a reviewer without the review.
            audit(
                session,
                f"pack.{status}",
                account_id=admin_account_id,
                pack_id=pack_id,
                version=version,
                reason=reason,
            )
            return _version_info(row, pack)

    async def get_version(self, pack_id: str, version: str) -> PackVersionInfo:
        async with self.db.read() as session:
            row = await self._version(session, pack_id, version)
            if row is None:
                raise PackNotFound(f"pack {pack_id!r} has no version {version!r}")
            return _version_info(row, await session.get(Pack, pack_id))

    async def list_versions(self, publisher_account_id: str) -> list[PackVersionInfo]:
        """Every version this publisher submitted, with its review status."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(PackVersion, Pack)
                .join(Pack, Pack.pack_id == PackVersion.pack_id)
                .where(Pack.publisher_account_id == publisher_account_id)
                .order_by(PackVersion.pack_id, PackVersion.version_id)
            )
            return [_version_info(version, pack) for version, pack in rows]

    async def catalog(self) -> list[CatalogEntry]:
        """Approved packs, each at its newest approved version, sorted by pack id."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(PackVersion, Pack)
                .join(Pack, Pack.pack_id == PackVersion.pack_id)
                .where(PackVersion.status == "approved")
            )
            newest = newest_per_pack(
                rows.tuples(),
                pack_id=lambda row: row[0].pack_id,
                version=lambda row: row[0].version,
                source="an approved version",
            )
        return [_entry(*newest[pack_id]) for pack_id in sorted(newest)]

    async def free_pack_ids(self) -> frozenset[str]:
        """Packs whose newest approved version is free (everyone owns them).

        Reads three small columns, not the manifests: it runs whenever an account's access is
        (re)computed.
        """
        async with self.db.read() as session:
            rows = await session.execute(
                select(PackVersion.pack_id, PackVersion.version, PackVersion.pricing_model)
                .where(PackVersion.status == "approved")
            )
            newest = newest_per_pack(
                rows.tuples(),
                pack_id=lambda row: row[0],
                version=lambda row: row[1],
                source="an approved version",
            )
        return frozenset(pack_id for pack_id, (_, _, model) in newest.items() if model == "free")

    async def get(self, pack_id: str) -> CatalogEntry:
        """The catalog entry of one pack.

        Raises:
            PackNotFound: the pack has no approved version.
        """
        for entry in await self.catalog():
            if entry.pack_id == pack_id:
                return entry
        raise PackNotFound(f"pack {pack_id!r} is not in the catalog")

    async def publisher_of(self, pack_id: str) -> str | None:
        """The publishing account of a pack (None for built-ins). Raises NotFound."""
        async with self.db.read() as session:
            pack = await session.get(Pack, pack_id)
        if pack is None:
            raise NotFound(f"pack {pack_id!r} does not exist")
        return pack.publisher_account_id

    @staticmethod
    async def _version(session, pack_id: str, version: str) -> PackVersion | None:  # type: ignore[no-untyped-def]
        return (
            await session.execute(
                select(PackVersion).where(
                    PackVersion.pack_id == pack_id, PackVersion.version == version
                )
            )
        ).scalar()


def _version_info(row: PackVersion, pack: Pack | None) -> PackVersionInfo:
    return PackVersionInfo(
        pack_id=row.pack_id,
        version=row.version,
        status=row.status,
        publisher=pack.publisher_name if pack else BUILTIN_PUBLISHER,
        archive_path=row.archive_path,
        reason=row.reason,
        pricing_model=row.pricing_model,
        amount=row.amount,
        currency=row.currency,
        submitted_at=as_utc(row.submitted_at),  # type: ignore[arg-type]
        reviewed_at=as_utc(row.reviewed_at),
        manifest=dict(row.manifest),
    )


def _entry(row: PackVersion, pack: Pack) -> CatalogEntry:
    manifest = dict(row.manifest)
    return CatalogEntry(
        pack_id=row.pack_id,
        name=manifest.get("name", row.pack_id),
        domain=manifest.get("domain", ""),
        description=manifest.get("description", ""),
        version=row.version,
        pricing_model=row.pricing_model,
        amount=row.amount,
        currency=row.currency,
        publisher=pack.publisher_name,
        archive_path=row.archive_path,
        manifest=manifest,
    )
