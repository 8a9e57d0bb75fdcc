"""Catalog review flow and the one access check, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import Conflict, EntitlementRequired, PackNotFound
from core.ledger.billing import Grant
from core.ledger.catalog import CatalogService
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import Entitlement, PackVersion
from plugins.local_billing import LocalBilling

from .conftest import make_manifest


async def test_submitted_version_is_pending_until_approved(db, accounts, catalog):
    publisher, _ = await accounts.create_account("Acme", "publisher")
    admin = (await accounts.create_account("Ops", "admin"))[0].account_id
    info = await catalog.submit_version(
        publisher.account_id, make_manifest("tax", "1.0.0"), "/packs/tax.kpack"
    )
    assert info.status == "pending"
    assert "tax" not in {entry.pack_id for entry in await catalog.catalog()}
    with pytest.raises(PackNotFound):
        await catalog.get("tax")
    await catalog.approve("tax", "1.0.0", admin_account_id=admin)
    entry = await catalog.get("tax")
    assert (entry.version, entry.publisher, entry.amount) == ("1.0.0", "Acme", 1500)
    await catalog.submit_version(publisher.account_id, make_manifest("tax", "1.10.0"), "/p2")
    await catalog.approve("tax", "1.10.0", admin_account_id=admin)
    assert (await catalog.get("tax")).version == "1.10.0"  # semver order, not text order
    rejected = await catalog.submit_version(
        publisher.account_id, make_manifest("tax", "2.0.0"), "/p3"
    )
    await catalog.reject(
        rejected.pack_id, rejected.version, "documents are empty", admin_account_id=admin
    )
    versions = {
        v.version: (v.status, v.reason) for v in await catalog.list_versions(publisher.account_id)
    }
    assert versions == {
        "1.0.0": ("approved", None),
        "1.10.0": ("approved", None),
        "2.0.0": ("rejected", "documents are empty"),
    }
    assert (await catalog.get("tax")).version == "1.10.0"


async def test_duplicate_version_and_foreign_pack_id_conflict(db, accounts, catalog):
    acme, _ = await accounts.create_account("Acme", "publisher")
    rival, _ = await accounts.create_account("Rival", "publisher")
    await catalog.submit_version(acme.account_id, make_manifest("tax"), "/a")
    with pytest.raises(Conflict, match="already exists"):
        await catalog.submit_version(acme.account_id, make_manifest("tax"), "/b")
    with pytest.raises(Conflict, match="another publisher"):
        await catalog.submit_version(rival.account_id, make_manifest("tax", "9.0.0"), "/c")
    with pytest.raises(Conflict, match="another publisher"):
        await catalog.submit_version(acme.account_id, make_manifest("finance", "9.0.0"), "/d")
    async with db.read() as session:
        rows = await session.execute(select(PackVersion).where(PackVersion.pack_id == "tax"))
        assert len(rows.all()) == 1


async def test_free_packs_are_owned_and_active_by_default(db, accounts, catalog):
    account, _ = await accounts.create_account("Ann", "customer")
    entitlements = EntitlementService(db)
    assert await entitlements.may_read(account.account_id, "basics", require_active=True)
    assert not await entitlements.may_read(account.account_id, "finance")
    assert not await entitlements.may_read(account.account_id, "nonexistent")
    await entitlements.deactivate(account.account_id, "basics")
    assert await entitlements.may_read(account.account_id, "basics")
    assert not await entitlements.may_read(account.account_id, "basics", require_active=True)
    assert await entitlements.readable_pack_ids(account.account_id) == set()


async def test_activation_needs_ownership_and_deactivation_keeps_entitlement(db, accounts, catalog):
    account, _ = await accounts.create_account("Ann", "customer")
    entitlements = EntitlementService(db)
    with pytest.raises(EntitlementRequired):
        await entitlements.activate(account.account_id, "finance")
    with pytest.raises(PackNotFound):
        await entitlements.activate(account.account_id, "nonexistent")
    billing = BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=entitlements
    )
    await billing.fulfil(Grant(account.account_id, "finance", "1.0.0", "local"), event_id="e1")
    assert await entitlements.may_read(account.account_id, "finance")
    assert not await entitlements.may_read(account.account_id, "finance", require_active=True)
    await entitlements.activate(account.account_id, "finance")
    assert await entitlements.readable_pack_ids(account.account_id) == {"basics", "finance"}
    await entitlements.deactivate(account.account_id, "finance")
    assert await entitlements.may_read(account.account_id, "finance")
    assert not await entitlements.may_read(account.account_id, "finance", require_active=True)
    listed = {e.pack_id: e for e in await entitlements.list_entitlements(account.account_id)}
    assert listed["finance"].status == "active" and not listed["finance"].active
    assert listed["basics"].source == "free" and listed["basics"].active


async def test_expired_period_grants_nothing(db, accounts, catalog):
    account, _ = await accounts.create_account("Ann", "customer")
    entitlements = EntitlementService(db)
    billing = BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=entitlements
    )
    past = datetime.now(UTC) - timedelta(days=1)
    await billing.fulfil(
        Grant(
            account.account_id,
            "medical",
            "1.0.0",
            "subscription",
            subscription_ref="sub_1",
            current_period_end=past,
        ),
        event_id="e1",
    )
    assert not await entitlements.may_read(account.account_id, "medical")
    async with db.write() as session:
        row = (await session.execute(select(Entitlement))).scalar_one()
        row.current_period_end = datetime.now(UTC) + timedelta(days=30)
    assert await entitlements.may_read(account.account_id, "medical")


async def test_builtin_registration_is_idempotent(db, catalog: CatalogService):
    again = await catalog.register_builtin(make_manifest("finance", amount=1500))
    assert again.status == "approved" and again.publisher == "PackDesk"
    assert [e.pack_id for e in await catalog.catalog()] == ["basics", "finance", "medical"]
