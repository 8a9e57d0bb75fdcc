"""Where a billing event becomes publisher revenue: the share a checkout is opened with, and the
earnings rows of sales, invoices, refunds and disputes.

:class:`~core.ledger.fulfilment.BillingService` calls these inside the transaction that applies
an event, after it locked the provider objects involved (the charge, then the payment), so the
rows of one payment are written one event at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import PayoutsNotEnabled
from core.ledger.billing import DisputeClosed, Grant, InvoicePaid, PaymentRefunded
from core.ledger.common import utcnow_
from core.ledger.earnings import (
    DISPUTE_LOST,
    REFUND,
    RENEWAL,
    SALE,
    ChargeFacts,
    Return,
    Sale,
    record_return,
    record_sale,
)
from core.ledger.event_order import CHARGE, REFUNDED
from core.ledger.models import (
    BillingObject,
    CheckoutOrder,
    Pack,
    PayoutAccount,
    ProcessedBillingEvent,
)
from core.ledger.payouts import PayoutStatus, fee_bps_for, fee_of, not_enabled_message


@dataclass(frozen=True)
class RevenueShare:
    """How a third-party pack's checkout splits the money."""

    publisher_account_id: str
    destination_ref: str
    fee_bps: int
    application_fee: int  # of the checkout's amount


async def revenue_share(
    session: AsyncSession, pack_id: str, amount: int, *, provider: str, default_fee_bps: int
) -> RevenueShare | None:
    """The share of a checkout of ``pack_id`` (None for a built-in pack: the money is the
    operator's).

    Raises:
        PayoutsNotEnabled: the publisher cannot receive payouts with this provider.
    """
    pack = await session.get(Pack, pack_id)
    if pack is None or pack.publisher_account_id is None:
        return None
    publisher = pack.publisher_account_id
    account = await session.get(PayoutAccount, publisher)
    if account is None or account.provider != provider or not (
        account.details_submitted and account.payouts_enabled
    ):
        status = PayoutStatus(
            publisher,
            account.provider if account else None,
            account.account_ref if account and account.provider == provider else None,
            bool(account and account.details_submitted),
            bool(account and account.charges_enabled),
            bool(account and account.payouts_enabled),
            default_fee_bps,
            None,
        )
        raise PayoutsNotEnabled(not_enabled_message(status, f"pack {pack_id!r} cannot be sold"))
    fee_bps = await fee_bps_for(session, publisher, default_fee_bps)
    return RevenueShare(publisher, account.account_ref, fee_bps, fee_of(amount, fee_bps))


async def record_order_sale(
    session: AsyncSession,
    *,
    provider: str,
    order: CheckoutOrder,
    grant: Grant,
    event_id: str,
    payment: BillingObject | None,
) -> str | None:
    """The sale row of a paid one-time checkout of a third-party pack (a subscription's money
    is recorded per invoice instead: :func:`record_invoice`)."""
    if order.publisher_account_id is None or grant.subscription_ref or order.subscription_ref:
        return None
    fee = order.application_fee if order.application_fee is not None else 0
    source = grant.payment_ref or order.payment_ref or order.session_id
    sale = Sale(
        provider=provider,
        event_id=event_id,
        kind=SALE,
        source_ref=source,
        publisher_account_id=order.publisher_account_id,
        pack_id=order.pack_id,
        currency=order.currency,
        gross=order.amount,
        fee=fee,
        occurred_at=grant.occurred_at or utcnow_(),
        customer_account_id=order.account_id,
        order_ref=order.session_id,
        payment_ref=grant.payment_ref or order.payment_ref,
        transfer_ref=grant.transfer_ref if order.destination_ref else None,
        destination_ref=order.destination_ref,
    )
    return await _record_sale(session, sale, payment)


async def record_invoice(
    session: AsyncSession,
    *,
    provider: str,
    invoice: InvoicePaid,
    event_id: str,
    payment: BillingObject | None,
    default_fee_bps: int,
) -> str:
    """The sale (first invoice) or renewal row of a paid subscription invoice."""
    order = None
    if invoice.subscription_ref:
        order = (
            await session.execute(
                select(CheckoutOrder).where(
                    CheckoutOrder.subscription_ref == invoice.subscription_ref
                )
            )
        ).scalar()
    pack_id = order.pack_id if order is not None else invoice.pack_id
    if pack_id is None:
        return f"ignored: invoice {invoice.invoice_ref} names no pack"
    pack = await session.get(Pack, pack_id)
    if pack is None:
        return f"ignored: invoice {invoice.invoice_ref} is for unknown pack {pack_id}"
    if pack.publisher_account_id is None:
        return f"invoice {invoice.invoice_ref}: a built-in pack, no publisher earnings"
    fee = invoice.application_fee
    if fee is None:  # the provider did not say: the rate the checkout was opened with
        bps = order.fee_bps if order is not None and order.fee_bps is not None else None
        if bps is None:
            bps = await fee_bps_for(session, pack.publisher_account_id, default_fee_bps)
        fee = fee_of(invoice.amount_paid, bps)
    sale = Sale(
        provider=provider,
        event_id=event_id,
        kind=SALE if invoice.first else RENEWAL,
        source_ref=invoice.invoice_ref,
        publisher_account_id=pack.publisher_account_id,
        pack_id=pack_id,
        currency=invoice.currency,
        gross=invoice.amount_paid,
        fee=fee,
        occurred_at=invoice.occurred_at or utcnow_(),
        customer_account_id=order.account_id if order is not None else invoice.account_id,
        order_ref=order.session_id if order is not None else None,
        payment_ref=invoice.payment_ref,
        charge_ref=invoice.charge_ref,
        invoice_ref=invoice.invoice_ref,
        subscription_ref=invoice.subscription_ref,
        transfer_ref=invoice.transfer_ref,
        destination_ref=invoice.destination_ref,
    )
    return await _record_sale(session, sale, payment)


def refund_return(provider: str, refund: PaymentRefunded, event_id: str) -> Return | None:
    """The earnings side of a ``charge.refunded`` (cumulative), when it says how much."""
    if refund.amount_refunded is None:
        return None
    facts = None
    if refund.amount is not None and refund.pack_id and refund.currency:
        facts = ChargeFacts(
            amount=refund.amount,
            application_fee=refund.application_fee or 0,
            currency=refund.currency,
            pack_id=refund.pack_id,
            customer_account_id=refund.account_id,
            transfer_ref=refund.transfer_ref,
            destination_ref=refund.destination_ref,
        )
    return Return(
        provider=provider,
        event_id=event_id,
        kind=REFUND,
        source_ref=event_id,
        payment_ref=refund.payment_ref,
        charge_ref=refund.charge_ref,
        returned=refund.amount_refunded,
        cumulative=True,
        occurred_at=refund.occurred_at or utcnow_(),
        facts=facts,
    )


def dispute_return(provider: str, dispute: DisputeClosed, event_id: str) -> Return:
    """The earnings side of a lost dispute: the disputed amount went back."""
    return Return(
        provider=provider,
        event_id=event_id,
        kind=DISPUTE_LOST,
        source_ref=dispute.dispute_ref,
        payment_ref=dispute.payment_ref,
        charge_ref=dispute.charge_ref,
        returned=dispute.amount,
        cumulative=False,
        occurred_at=dispute.occurred_at or utcnow_(),
    )


async def record_money_back(session: AsyncSession, money_back: Return | None) -> str | None:
    return await record_return(session, money_back) if money_back is not None else None


async def _record_sale(session: AsyncSession, sale: Sale, payment: BillingObject | None) -> str:
    """The sale, and the rest of a full return an earlier event made of its payment: which
    kind (by that event's type) and of which charge (the one that event marked refunded)."""
    if payment is None or payment.status != REFUNDED:
        return await record_sale(session, sale, tombstone_kind=None)
    event_type = charge_ref = None
    if payment.event_id:
        row = await session.get(ProcessedBillingEvent, payment.event_id)
        event_type = row.event_type if row is not None else None
        charge_ref = (
            await session.execute(
                select(BillingObject.object_ref).where(
                    BillingObject.provider == payment.provider,
                    BillingObject.kind == CHARGE,
                    BillingObject.event_id == payment.event_id,
                )
            )
        ).scalar()
    kind = DISPUTE_LOST if event_type == "charge.dispute.closed" else REFUND
    return await record_sale(session, sale, tombstone_kind=kind, tombstone_charge=charge_ref)
