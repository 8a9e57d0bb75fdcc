"""The earnings ledger: what each publisher earned, one append-only row per money movement.

A sale or a subscription invoice adds a row (``sale``, ``renewal``): ``gross`` paid by the
customer, the platform ``fee`` and the publisher's ``net``. Money going back (``refund``,
``dispute_lost``) adds a negative row that reverses the publisher's share in proportion:
after returns of ``r`` in total of a sale of ``gross``, the publisher's share reversed is
``round(net * r / gross)``, each row adding what the previous ones had not, so the totals do
not depend on the order the rows were written in.

Rows are written by :class:`~core.ledger.fulfilment.BillingService` in the transaction that
applies the provider event (idempotent by event id there, and unique here by the provider
object each row accounts for). Events arrive in any order:

- a refund that arrives before its sale is recorded from the charge it names (amount, platform
  fee, the payment's pack), and the sale, when it arrives, adds only itself;
- a return that cannot be attributed yet (a dispute, or a charge without the payment's pack)
  still leaves the payment's tombstone (:mod:`core.ledger.event_order`) when it ends the
  purchase; the sale, when it arrives, records the return of the rest with it
  (:func:`record_sale`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ledger.common import insert_for, utcnow_
from core.ledger.models import EarningsEntry, Pack, TransferReversal

SALE = "sale"
RENEWAL = "renewal"
REFUND = "refund"
DISPUTE_LOST = "dispute_lost"
INCOME_KINDS = (SALE, RENEWAL)
RETURN_KINDS = (REFUND, DISPUTE_LOST)


@dataclass(frozen=True)
class Sale:
    """One sale or invoice of a third-party pack, as the provider charged it."""

    provider: str
    event_id: str
    kind: str  # sale | renewal
    source_ref: str  # the payment (one-time) or invoice (subscription) it accounts for
    publisher_account_id: str
    pack_id: str
    currency: str
    gross: int
    fee: int
    occurred_at: datetime
    customer_account_id: str | None = None
    order_ref: str | None = None
    payment_ref: str | None = None
    charge_ref: str | None = None
    invoice_ref: str | None = None
    subscription_ref: str | None = None
    transfer_ref: str | None = None
    destination_ref: str | None = None


@dataclass(frozen=True)
class ChargeFacts:
    """What a charge says about itself, used when its sale is not recorded yet."""

    amount: int
    application_fee: int
    currency: str
    pack_id: str
    customer_account_id: str | None = None
    transfer_ref: str | None = None
    destination_ref: str | None = None


@dataclass(frozen=True)
class Return:
    """Money going back to the customer: a refund (``returned`` is the charge's cumulative
    refunded amount) or a lost dispute (``returned`` is the disputed amount)."""

    provider: str
    event_id: str
    kind: str  # refund | dispute_lost
    source_ref: str
    payment_ref: str | None
    charge_ref: str | None
    returned: int
    cumulative: bool
    occurred_at: datetime
    facts: ChargeFacts | None = None


async def record_sale(
    session: AsyncSession,
    sale: Sale,
    *,
    tombstone_kind: str | None,
    tombstone_charge: str | None = None,
) -> str:
    """Append a sale row (once per source object). ``tombstone_kind``: the payment was already
    fully returned (``refund`` or ``dispute_lost``, of charge ``tombstone_charge``) by an event
    applied earlier; what of that return is not recorded yet is recorded now.

    Returns:
        what was recorded, for the event's outcome.
    """
    net = sale.gross - sale.fee
    values = {
        "provider": sale.provider,
        "event_id": sale.event_id,
        "kind": sale.kind,
        "source_ref": sale.source_ref,
        "publisher_account_id": sale.publisher_account_id,
        "pack_id": sale.pack_id,
        "customer_account_id": sale.customer_account_id,
        "currency": sale.currency.lower(),
        "gross": sale.gross,
        "fee": sale.fee,
        "net": net,
        "order_ref": sale.order_ref,
        "payment_ref": sale.payment_ref,
        "charge_ref": sale.charge_ref,
        "invoice_ref": sale.invoice_ref,
        "subscription_ref": sale.subscription_ref,
        "transfer_ref": sale.transfer_ref,
        "destination_ref": sale.destination_ref,
        "occurred_at": sale.occurred_at,
        "recorded_at": utcnow_(),
    }
    statement = insert_for(session, EarningsEntry).values(**values)
    result = cast(CursorResult[Any], await session.execute(statement.on_conflict_do_nothing()))
    if result.rowcount == 0:
        return f"{sale.kind} {sale.source_ref} already recorded"
    recorded = f"{sale.kind} recorded: gross {sale.gross}, fee {sale.fee}, net {net}"
    if tombstone_kind is not None and sale.payment_ref:
        back = await record_return(
            session,
            Return(
                provider=sale.provider,
                event_id=sale.event_id,
                kind=tombstone_kind,
                source_ref=f"{sale.payment_ref}:returned-before-sale",
                payment_ref=sale.payment_ref,
                charge_ref=sale.charge_ref or tombstone_charge,
                returned=sale.gross,
                cumulative=False,
                occurred_at=sale.occurred_at,
            ),
        )
        if back is not None:
            recorded += f"; {back}"
    return recorded


async def record_return(session: AsyncSession, money_back: Return) -> str | None:
    """Append the row of a refund or lost dispute: the part of ``returned`` not recorded yet,
    capped at what is left of the sale, with the publisher's share reversed in proportion.

    Returns:
        what was recorded, or None when nothing new was returned or the return cannot be
        attributed to a publisher yet (no sale recorded and no charge facts).
    """
    base = await _sale_of(session, money_back.payment_ref, money_back.charge_ref)
    if base is None and money_back.facts is not None:
        base = await _facts_base(session, money_back.facts)
    if base is None:
        return None
    gross, fee, publisher, pack_id, currency, customer, transfer, destination = base
    earlier = await _returns_of(session, money_back.payment_ref, money_back.charge_ref)
    returned_before = -sum(row.gross for row in earlier)
    net_before = -sum(row.net for row in earlier)
    if money_back.cumulative:
        refunded_before = -sum(row.gross for row in earlier if row.kind == REFUND)
        new = money_back.returned - refunded_before
    else:
        new = money_back.returned
    new = min(new, gross - returned_before)
    if new <= 0 or gross <= 0:
        return None
    returned_after = returned_before + new
    net = gross - fee
    share_after = (net * returned_after + gross // 2) // gross  # round half up
    row_net = -(share_after - net_before)
    row_gross = -new
    facts = money_back.facts
    # What an earlier row of this payment learnt (a refund's charge names its transfer).
    transfer = (
        transfer
        or (facts.transfer_ref if facts else None)
        or next((row.transfer_ref for row in earlier if row.transfer_ref), None)
    )
    charge_ref = money_back.charge_ref or next(
        (row.charge_ref for row in earlier if row.charge_ref), None
    )
    statement = insert_for(session, EarningsEntry).values(
        provider=money_back.provider,
        event_id=money_back.event_id,
        kind=money_back.kind,
        source_ref=money_back.source_ref,
        publisher_account_id=publisher,
        pack_id=pack_id,
        customer_account_id=customer,
        currency=currency,
        gross=row_gross,
        fee=row_gross - row_net,
        net=row_net,
        payment_ref=money_back.payment_ref,
        charge_ref=charge_ref,
        transfer_ref=transfer,
        destination_ref=destination or (facts.destination_ref if facts else None),
        occurred_at=money_back.occurred_at,
        recorded_at=utcnow_(),
    )
    result = cast(CursorResult[Any], await session.execute(statement.on_conflict_do_nothing()))
    if result.rowcount == 0:
        return None
    # The provider moves the money back after commit (BillingService.settle_reversals): the
    # transfer of this charge must then be reversed by everything returned so far.
    reversal = insert_for(session, TransferReversal).values(
        event_id=money_back.event_id,
        provider=money_back.provider,
        charge_ref=charge_ref,
        transfer_ref=transfer,
        target_reversed=returned_after,
        status="pending",
        attempts=0,
        updated_at=utcnow_(),
    )
    await session.execute(reversal.on_conflict_do_nothing())
    return f"{money_back.kind} recorded: gross {row_gross}, net {row_net}"


_Base = tuple[int, int, str, str, str, str | None, str | None, str | None]


async def _sale_of(
    session: AsyncSession, payment_ref: str | None, charge_ref: str | None
) -> _Base | None:
    match = _same_payment(payment_ref, charge_ref)
    if match is None:
        return None
    row = (
        await session.execute(
            select(EarningsEntry)
            .where(EarningsEntry.kind.in_(INCOME_KINDS), match)
            .order_by(EarningsEntry.entry_id)
            .limit(1)
        )
    ).scalar()
    if row is None:
        return None
    return (
        row.gross, row.fee, row.publisher_account_id, row.pack_id, row.currency,
        row.customer_account_id, row.transfer_ref, row.destination_ref,
    )


async def _facts_base(session: AsyncSession, facts: ChargeFacts) -> _Base | None:
    pack = await session.get(Pack, facts.pack_id)
    if pack is None or pack.publisher_account_id is None:
        return None  # a built-in pack's money is the operator's: no publisher earns it
    return (
        facts.amount, facts.application_fee, pack.publisher_account_id, facts.pack_id,
        facts.currency.lower(), facts.customer_account_id, facts.transfer_ref,
        facts.destination_ref,
    )


async def _returns_of(
    session: AsyncSession, payment_ref: str | None, charge_ref: str | None
) -> list[EarningsEntry]:
    match = _same_payment(payment_ref, charge_ref)
    if match is None:
        return []
    return list(
        (
            await session.execute(
                select(EarningsEntry).where(EarningsEntry.kind.in_(RETURN_KINDS), match)
            )
        ).scalars()
    )


def _same_payment(payment_ref: str | None, charge_ref: str | None) -> Any:
    clauses = []
    if payment_ref:
        clauses.append(EarningsEntry.payment_ref == payment_ref)
    if charge_ref:
        clauses.append(EarningsEntry.charge_ref == charge_ref)
    return or_(*clauses) if clauses else None
