"""Fulfilment is exact: once per event, one live entitlement per pack, even concurrently."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from core.ledger.billing import Grant
from core.ledger.catalog import CatalogService
from core.ledger.db import Database
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import AuditEntry, Entitlement, ProcessedBillingEvent
from plugins.local_billing import LocalBilling
from tests.core.ledger.conftest import open_order

CONCURRENT_DELIVERIES = 20


def local_billing(db: Database, catalog: CatalogService) -> BillingService:
    return BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=EntitlementService(db)
    )


async def entitlement_rows(db: Database, account_id: str) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Entitlement.pack_id, Entitlement.status).where(
                Entitlement.account_id == account_id
            )
        )
        return [tuple(row) for row in rows]


async def grants_in_audit(db: Database) -> int:
    async with db.read() as session:
        return (
            await session.execute(
                select(func.count()).where(AuditEntry.action == "entitlement.granted")
            )
        ).scalar_one()


async def test_same_event_delivered_concurrently_grants_once(db, accounts, catalog):
    account, _ = await accounts.create_account("Ann", "customer")
    billing = local_billing(db, catalog)
    await open_order(db, account.account_id, "finance", session_id="cs_1")
    grant = Grant(
        account.account_id, "finance", "1.0.0", "one_time", order_ref="cs_1", payment_ref="pi_1"
    )
    outcomes = await asyncio.gather(
        *(billing.fulfil(grant, event_id="evt_same") for _ in range(CONCURRENT_DELIVERIES))
    )
    assert sum(not outcome.duplicate for outcome in outcomes) == 1
    assert [o.outcome for o in outcomes if not o.duplicate] == ["granted"]
    assert await entitlement_rows(db, account.account_id) == [("finance", "active")]
    assert await grants_in_audit(db) == 1
    async with db.read() as session:
        events = (await session.execute(select(ProcessedBillingEvent))).scalars().all()
    assert [(e.event_id, e.outcome) for e in events] == [("evt_same", "granted")]


async def test_two_purchases_of_one_pack_leave_one_active_entitlement(db, accounts, catalog):
    account, _ = await accounts.create_account("Ann", "customer")
    billing = local_billing(db, catalog)
    for n in range(CONCURRENT_DELIVERIES):
        await open_order(db, account.account_id, "finance", session_id=f"cs_{n}")
    grants = [
        Grant(
            account.account_id,
            "finance",
            "1.0.0",
            "one_time",
            order_ref=f"cs_{n}",
            payment_ref=f"pi_{n}",
        )
        for n in range(CONCURRENT_DELIVERIES)
    ]
    outcomes = await asyncio.gather(
        *(billing.fulfil(grant, event_id=f"evt_{n}") for n, grant in enumerate(grants))
    )
    assert not any(outcome.duplicate for outcome in outcomes)
    assert sorted(o.outcome for o in outcomes).count("granted") == 1
    assert await entitlement_rows(db, account.account_id) == [("finance", "active")]
    assert await EntitlementService(db).may_read(account.account_id, "finance")


async def test_redelivery_after_success_changes_nothing(db, accounts, catalog):
    account, _ = await accounts.create_account("Ann", "customer")
    billing = local_billing(db, catalog)
    await open_order(db, account.account_id, "finance", session_id="cs_1")
    grant = Grant(account.account_id, "finance", "1.0.0", "one_time", order_ref="cs_1")
    first = await billing.fulfil(grant, event_id="evt_1")
    second = await billing.fulfil(grant, event_id="evt_1")
    assert (first.duplicate, second.duplicate) == (False, True)
    assert await grants_in_audit(db) == 1


async def test_grant_for_unknown_account_is_recorded_and_ignored(db, accounts, catalog):
    billing = local_billing(db, catalog)
    outcome = await billing.fulfil(
        Grant("acc_nope", "finance", "1.0.0", "one_time"), event_id="evt_x"
    )
    assert outcome.outcome.startswith("ignored: unknown account")
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Entitlement))).scalar() == 0
