"""Order-safety for provider events: tombstones, staleness and the order a checkout must match.

Stripe neither orders its webhook deliveries nor stops retrying them for days. What the ledger
learnt about a provider object (a payment, a charge, a subscription) is kept in
``billing_objects``; :func:`lock_object` is how every effect on an object begins, so the events
about one object are applied one at a time even across processes, each seeing what the one
before it committed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ledger.billing import Grant, SubscriptionChanged, price_lookup_key
from core.ledger.common import as_utc, dialect_name, insert_for, utcnow_
from core.ledger.models import BillingObject, CheckoutOrder

PAYMENT = "payment"
CHARGE = "charge"
SUBSCRIPTION = "subscription"

REFUNDED = "refunded"  # a payment or charge fully refunded: tombstone
ENDED = "ended"  # a subscription deleted or canceled: tombstone
UNKNOWN = "unknown"  # a subscription no subscription event has described yet


async def lock_object(
    session: AsyncSession, provider: str, kind: str, object_ref: str, *, status: str
) -> BillingObject:
    """The row of one provider object, inserted with ``status`` when new, locked until commit.

    On PostgreSQL a concurrent transaction inserting the same row waits for this one and then
    finds it; ``FOR UPDATE`` makes later statements of the waiting transaction see what this one
    committed. SQLite's writers are serialised already (``BEGIN IMMEDIATE``).
    """
    statement = insert_for(session, BillingObject).values(
        provider=provider, kind=kind, object_ref=object_ref, status=status, updated_at=utcnow_()
    )
    await session.execute(statement.on_conflict_do_nothing())
    query = (
        select(BillingObject)
        .where(
            BillingObject.provider == provider,
            BillingObject.kind == kind,
            BillingObject.object_ref == object_ref,
        )
        .execution_options(populate_existing=True)
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


async def lock_order(session: AsyncSession, session_id: str) -> CheckoutOrder | None:
    """A stored checkout order, locked until commit (PostgreSQL), or None."""
    query = (
        select(CheckoutOrder)
        .where(CheckoutOrder.session_id == session_id)
        .execution_options(populate_existing=True)
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).scalar()


def order_mismatches(order: CheckoutOrder, grant: Grant) -> list[str]:
    """How a completed checkout differs from the order stored when it was opened ([] if not).

    Fields the provider did not report (None) are not compared.
    """
    found: list[str] = []
    if grant.account_id != order.account_id:
        found.append(f"account {grant.account_id!r} != {order.account_id!r}")
    if grant.pack_id != order.pack_id:
        found.append(f"pack {grant.pack_id!r} != {order.pack_id!r}")
    if grant.version and order.version and grant.version != order.version:
        found.append(f"version {grant.version!r} != {order.version!r}")
    if grant.source in ("one_time", "subscription"):
        expected = "subscription" if order.pricing_model == "monthly" else "one_time"
        if grant.source != expected:
            found.append(f"mode {grant.source!r} != {expected!r}")
    if grant.amount is not None and grant.amount != order.amount:
        found.append(f"amount {grant.amount} != {order.amount}")
    if grant.currency is not None and grant.currency.lower() != order.currency.lower():
        found.append(f"currency {grant.currency!r} != {order.currency!r}")
    if grant.price_ref and order.price_ref and grant.price_ref != order.price_ref:
        found.append(f"price {grant.price_ref!r} != {order.price_ref!r}")
    if grant.price_lookup_key and order.version:
        expected_key = price_lookup_key(order.pack_id, order.version)
        if grant.price_lookup_key != expected_key:
            found.append(f"price lookup key {grant.price_lookup_key!r} != {expected_key!r}")
    return found


def is_stale(state: BillingObject, change: SubscriptionChanged) -> bool:
    """Whether a subscription change is older than the newest one applied.

    By the provider's event time; on a tie, a change that moves the period end back is stale.
    A change without a time (or the first one) is applied.
    """
    last = as_utc(state.changed_at)
    if change.changed_at is None or last is None:
        return False
    if change.changed_at != last:
        return change.changed_at < last
    known_end = as_utc(state.current_period_end)
    return (
        change.current_period_end is not None
        and known_end is not None
        and change.current_period_end < known_end
    )
