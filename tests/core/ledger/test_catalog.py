"""The catalog's review audit and its version order, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from core.errors import PackNotFound, ValidationError
from core.ledger.catalog import CatalogService
from core.ledger.db import Database
from core.ledger.models import AuditEntry, Pack, PackVersion

from .conftest import make_manifest


async def review_audit(db: Database) -> list[tuple[str, str | None, str | None, dict]]:
    async with db.read() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.account_id, AuditEntry.pack_id, AuditEntry.detail)
            .where(AuditEntry.action.in_(["pack.approved", "pack.rejected"]))
            .order_by(AuditEntry.entry_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_approval_and_rejection_are_audited_with_the_admin(db, accounts, catalog):
    publisher, _ = await accounts.create_account("Acme", "publisher")
    approver, _ = await accounts.create_account("Ops One", "admin")
    rejecter, _ = await accounts.create_account("Ops Two", "admin")
    for version in ("1.0.0", "1.1.0"):
        await catalog.submit_version(publisher.account_id, make_manifest("tax", version), "/a")

    await catalog.approve("tax", "1.0.0", admin_account_id=approver.account_id)
    await catalog.reject("tax", "1.1.0", " no sources ", admin_account_id=rejecter.account_id)

    assert await review_audit(db) == [
        (
            "pack.approved",
            approver.account_id,
            "tax",
            {"version": "1.0.0", "reason": None},
        ),
        (
            "pack.rejected",
            rejecter.account_id,
            "tax",
            {"version": "1.1.0", "reason": "no sources"},
        ),
    ]


async def test_a_refused_review_writes_no_audit_row(db, accounts, catalog):
    admin, _ = await accounts.create_account("Ops", "admin")
    with pytest.raises(PackNotFound):
        await catalog.approve("tax", "9.9.9", admin_account_id=admin.account_id)
    with pytest.raises(ValidationError, match="reason"):
        await catalog.reject("finance", "1.0.0", "  ", admin_account_id=admin.account_id)
    assert await review_audit(db) == []


async def test_newest_version_is_semver_order_with_prereleases(db, accounts, catalog):
    publisher, _ = await accounts.create_account("Acme", "publisher")
    admin, _ = await accounts.create_account("Ops", "admin")

    async def publish(version: str, model: str = "one_time") -> None:
        manifest = make_manifest("tax", version, model=model)
        await catalog.submit_version(publisher.account_id, manifest, f"/{version}")
        await catalog.approve("tax", version, admin_account_id=admin.account_id)

    await publish("1.9.0")
    await publish("1.10.0-rc.1", model="free")
    assert (await catalog.get("tax")).version == "1.10.0-rc.1"  # 1.10 > 1.9, not text order
    assert "tax" in await catalog.free_pack_ids()
    await publish("1.10.0")
    assert (await catalog.get("tax")).version == "1.10.0"  # the release beats its rc
    assert "tax" not in await catalog.free_pack_ids()


@pytest.mark.parametrize("version", ["1.0.0-x.7", "1.0.0-1", "1.0.0-post.2"])
async def test_unorderable_version_is_refused_before_anything_is_written(
    db, accounts, catalog: CatalogService, version: str
):
    publisher, _ = await accounts.create_account("Acme", "publisher")
    with pytest.raises(ValidationError, match=version):
        await catalog.submit_version(publisher.account_id, make_manifest("tax", version), "/a")
    async with db.read() as session:
        assert await session.get(Pack, "tax") is None
        count = select(func.count()).select_from(PackVersion).where(PackVersion.pack_id == "tax")
        assert (await session.execute(count)).scalar_one() == 0


async def test_a_malformed_version_row_is_left_out_of_listings_with_a_warning(
    db, catalog: CatalogService, caplog: pytest.LogCaptureFixture
):
    # A row no submission can write any more (written before versions were checked).
    async with db.write() as session:
        session.add(
            PackVersion(
                pack_id="finance",
                version="9.0.0-nightly",
                status="approved",
                manifest={},
                pricing_model="free",
                amount=0,
                currency="usd",
            )
        )
    with caplog.at_level(logging.WARNING, logger="packdesk.versions"):
        assert (await catalog.get("finance")).version == "1.0.0"
        assert await catalog.free_pack_ids() == frozenset({"basics"})
    assert "'9.0.0-nightly'" in caplog.text and "'finance'" in caplog.text
