"""What the publisher and admin consoles read: the review queue with a look inside each
pending archive, and per pack its sales and how many answers cited it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, func, select

from core.conversations.models import Turn
from core.errors import PackDeskError
from core.ledger.common import as_utc
from core.ledger.db import Database
from core.ledger.models import CheckoutOrder, Pack, PackVersion
from core.packs.archive import ArchiveLimits, read_archive
from core.packs.manifest import SIGNATURE_FILE

SAMPLE_DOCUMENTS = 3
SAMPLE_CHARS = 600
DOCUMENTS_FILE = "documents.jsonl"


@dataclass(frozen=True)
class ReviewItem:
    pack_id: str
    version: str
    status: str
    publisher: str
    submitted_at: datetime
    reason: str | None
    manifest: dict[str, Any]
    archive_path: str | None


@dataclass(frozen=True)
class ArchivePreview:
    """A few documents and the signing key id of an uploaded archive (or why they are not
    shown)."""

    documents: list[dict[str, str]] = field(default_factory=list)
    signing_key_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PackStats:
    paid_orders: int = 0
    revenue: dict[str, int] = field(default_factory=dict)  # currency -> minor units
    cited_answers: int = 0


async def review_queue(db: Database, *, statuses: tuple[str, ...]) -> list[ReviewItem]:
    """Every publisher's versions in ``statuses``, oldest submission first."""
    async with db.read() as session:
        rows = await session.execute(
            select(PackVersion, Pack.publisher_name)
            .join(Pack, Pack.pack_id == PackVersion.pack_id)
            .where(PackVersion.status.in_(statuses), Pack.publisher_account_id.is_not(None))
            .order_by(PackVersion.submitted_at)
            .limit(200)
        )
        items = []
        for version, publisher in rows:
            submitted = as_utc(version.submitted_at)
            assert submitted is not None
            items.append(
                ReviewItem(
                    pack_id=version.pack_id,
                    version=version.version,
                    status=version.status,
                    publisher=publisher,
                    submitted_at=submitted,
                    reason=version.reason,
                    manifest=dict(version.manifest),
                    archive_path=version.archive_path,
                )
            )
        return items


async def preview_archive(archive_path: str | None, limits: ArchiveLimits) -> ArchivePreview:
    """Read an uploaded archive (with every hostile-archive check) for the reviewer."""
    if not archive_path or not Path(archive_path).is_file():
        return ArchivePreview(error="the archive is not on this server")
    try:
        files = await asyncio.to_thread(read_archive, Path(archive_path), limits)
    except PackDeskError as exc:
        return ArchivePreview(error=str(exc))
    documents = []
    for line in files.get(DOCUMENTS_FILE, b"").decode("utf-8").splitlines()[:SAMPLE_DOCUMENTS]:
        row = json.loads(line)
        documents.append(
            {
                "id": str(row.get("id", "")),
                "title": str(row.get("title", "")),
                "text": str(row.get("text", ""))[:SAMPLE_CHARS],
                "source_url": str(row.get("source_url") or ""),
            }
        )
    signature = json.loads(files.get(SIGNATURE_FILE, b"{}") or b"{}")
    return ArchivePreview(documents=documents, signing_key_id=signature.get("key_id"))


async def pack_stats(db: Database, pack_ids: list[str]) -> dict[str, PackStats]:
    """Paid orders, revenue and cited answers of each pack in ``pack_ids``."""
    stats: dict[str, PackStats] = {}
    async with db.read() as session:
        for pack_id in pack_ids:
            orders = await session.execute(
                select(CheckoutOrder.currency, func.count(), func.sum(CheckoutOrder.amount))
                .where(CheckoutOrder.pack_id == pack_id, CheckoutOrder.status == "paid")
                .group_by(CheckoutOrder.currency)
            )
            revenue, paid = {}, 0
            for currency, count, amount in orders:
                revenue[currency] = int(amount or 0)
                paid += int(count)
            # Citations are JSON written by one serializer on both dialects, so a pack's id
            # appears as this exact text in every turn that cites it.
            needle = json.dumps({"pack_id": pack_id})[1:-1]
            cited = await session.scalar(
                select(func.count())
                .select_from(Turn)
                .where(cast(Turn.citations, Text).contains(needle, autoescape=True))
            )
            stats[pack_id] = PackStats(paid_orders=paid, revenue=revenue, cited_answers=cited or 0)
    return stats
