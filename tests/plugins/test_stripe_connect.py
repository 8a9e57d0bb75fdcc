"""Stripe Connect (issue 19) with correctly signed Stripe events through the webhook entry:
connected accounts, sales, renewals, refunds, disputes, their duplicates and their disorder,
and the approval rule. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.errors import PayoutsNotEnabled, WebhookSignatureError
from core.ledger.catalog import CatalogService
from core.ledger.db import Database
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import CheckoutOrder, EarningsEntry, PayoutAccount, TransferReversal
from core.ledger.payouts import PayoutService
from core.ledger.statements import EarningsService
from plugins.stripe_billing import StripeBilling
from tests.core.ledger.conftest import accounts, db, make_manifest  # noqa: F401 - fixtures

from .stripe_helpers import WEBHOOK_SECRET, charge, checkout_session, event, sign

PACK, MONTHLY = "pet-care", "pet-plus"
PRICE, MONTHLY_PRICE = 1500, 900
FEE_BPS = 1000  # 10%
ACCT = "acct_pub_1"
DAY = 86400


@pytest.fixture
def stripe_settings(settings):
    settings.stripe_api_key = SecretStr("sk_test_packdesk_fake")
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.stripe_api_base = "http://127.0.0.1:9"  # nothing listens: provider calls fail
    return settings


@pytest.fixture
async def market(db, stripe_settings, accounts):  # noqa: F811
    """A publisher with a connected account, its one-time and monthly packs, a customer."""
    db.settings = stripe_settings
    publisher, _ = await accounts.create_account("Pets Ltd", "publisher")
    customer, _ = await accounts.create_account("Ann", "customer")
    catalog = CatalogService(db)
    for pack_id, model, amount in ((PACK, "one_time", PRICE), (MONTHLY, "monthly", MONTHLY_PRICE)):
        manifest = make_manifest(pack_id, model=model, amount=amount, publisher="Pets Ltd")
        await catalog.submit_version(publisher.account_id, manifest, "/nowhere.kpack")
        await catalog.approve(pack_id, "1.0.0", admin_account_id="ops")
    async with db.write() as session:  # what POST /v1/publisher/payouts/onboarding stored
        session.add(PayoutAccount(account_id=publisher.account_id, provider="stripe",
                                  account_ref=ACCT))
    billing = BillingService(
        db, StripeBilling(stripe_settings), catalog=catalog, entitlements=EntitlementService(db)
    )
    return Market(db, billing, publisher.account_id, customer.account_id)


class Market:
    def __init__(
        self, database: Database, billing: BillingService, publisher: str, customer: str
    ) -> None:
        self.db, self.billing = database, billing
        self.publisher, self.customer = publisher, customer

    async def deliver(self, kind: str, obj: dict[str, Any], **options: Any) -> Any:
        payload = event(kind, obj, **options)
        return await self.billing.handle_webhook(payload, sign(payload))

    async def open_order(self, session_id: str = "cs_1", pack_id: str = PACK) -> None:
        """The order start_checkout stores for a destination charge."""
        amount = PRICE if pack_id == PACK else MONTHLY_PRICE
        async with self.db.write() as session:
            session.add(CheckoutOrder(
                session_id=session_id, provider="stripe", account_id=self.customer,
                pack_id=pack_id, version="1.0.0",
                pricing_model="one_time" if pack_id == PACK else "monthly", amount=amount,
                currency="usd", status="open", publisher_account_id=self.publisher,
                destination_ref=ACCT, application_fee=amount * FEE_BPS // 10000,
                fee_bps=FEE_BPS,
            ))

    async def rows(self) -> list[tuple[str, int, int, int]]:
        async with self.db.read() as session:
            found = await session.execute(
                select(EarningsEntry.kind, EarningsEntry.gross, EarningsEntry.fee,
                       EarningsEntry.net).order_by(EarningsEntry.entry_id)
            )
            return [tuple(row) for row in found]  # type: ignore[misc]

    async def owns(self, pack_id: str = PACK) -> bool:
        return await EntitlementService(self.db).may_read(self.customer, pack_id)


def paid_charge(payment_intent: str, *, refunded: int, charge_id: str = "ch_1",
                metadata: bool = True) -> dict[str, Any]:
    """A destination charge of the one-time pack with ``refunded`` refunded so far."""
    obj = charge(payment_intent, charge_id=charge_id, amount=PRICE, refunded_amount=refunded)
    obj.update(application_fee_amount=PRICE * FEE_BPS // 10000, transfer="tr_1",
               transfer_data={"destination": ACCT})
    if metadata:  # Stripe copies the payment intent's metadata to its charge
        obj["metadata"] = {"pack_id": PACK, "account_id": "acc_x"}
    return obj


def invoice(invoice_id: str, sub_id: str, *, first: bool, amount: int = MONTHLY_PRICE,
            payment_intent: str | None = None) -> dict[str, Any]:
    """A paid invoice in the current API shape (subscription under parent)."""
    return {
        "id": invoice_id, "object": "invoice", "amount_paid": amount, "currency": "usd",
        "billing_reason": "subscription_create" if first else "subscription_cycle",
        "application_fee_amount": amount * FEE_BPS // 10000,
        "transfer_data": {"destination": ACCT},
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": sub_id, "metadata": {"pack_id": MONTHLY}}},
        "payment_intent": payment_intent,
    }


def account(*, submitted: bool, payouts: bool) -> dict[str, Any]:
    return {"id": ACCT, "object": "account", "type": "express", "details_submitted": submitted,
            "charges_enabled": submitted, "payouts_enabled": payouts}


# --- connected accounts -------------------------------------------------------------------------
async def test_account_updated_keeps_the_status_current(market):
    payouts = PayoutService(market.db, market.billing.provider)
    assert not (await payouts.status(market.publisher)).can_receive_payouts
    now = int(time.time())
    outcome = await market.deliver("account.updated", account(submitted=True, payouts=True),
                                   created=now)
    assert outcome.outcome == f"payout account {ACCT}: payouts enabled"
    status = await payouts.status(market.publisher)
    assert (status.details_submitted, status.charges_enabled, status.payouts_enabled) == (
        True, True, True)
    # An older update delivered late changes nothing; a newer one does.
    stale = await market.deliver("account.updated", account(submitted=True, payouts=False),
                                 created=now - 60)
    assert stale.outcome.startswith("ignored: stale update")
    assert (await payouts.status(market.publisher)).can_receive_payouts
    await market.deliver("account.updated", account(submitted=True, payouts=False),
                         created=now + 60)
    assert not (await payouts.status(market.publisher)).can_receive_payouts
    stranger = {**account(submitted=True, payouts=True), "id": "acct_someone_else"}
    ignored = await market.deliver("account.updated", stranger)
    assert ignored.outcome.startswith("ignored: acct_someone_else is no publisher's")


async def test_connect_endpoint_secret_is_accepted_and_others_are_not(market, stripe_settings):
    payload = event("account.updated", account(submitted=True, payouts=True))
    with pytest.raises(WebhookSignatureError):
        await market.billing.handle_webhook(payload, sign(payload, secret="whsec_connect"))
    stripe_settings.stripe_connect_webhook_secret = SecretStr("whsec_connect")
    outcome = await market.billing.handle_webhook(payload, sign(payload, secret="whsec_connect"))
    assert outcome.outcome.endswith("payouts enabled")
    with pytest.raises(WebhookSignatureError):
        await market.billing.handle_webhook(payload, sign(payload, secret="whsec_nobody"))


# --- sales, renewals, refunds, disputes ---------------------------------------------------------
async def test_a_sale_records_gross_fee_and_net_once(market):
    await market.open_order()
    session = checkout_session(market.customer, PACK, session_id="cs_1", payment_intent="pi_1",
                               amount_total=PRICE)
    payload = event("checkout.session.completed", session)
    first = await market.billing.handle_webhook(payload, sign(payload))
    again = await market.billing.handle_webhook(payload, sign(payload))
    assert first.outcome == "granted; sale recorded: gross 1500, fee 150, net 1350"
    assert again.duplicate
    # The same payment reported again under another event id adds nothing either.
    other = await market.deliver("checkout.session.async_payment_succeeded", session)
    assert "sale pi_1 already recorded" in other.outcome
    assert await market.rows() == [("sale", 1500, 150, 1350)]
    assert await market.owns()


async def test_every_paid_invoice_adds_a_row(market):
    await market.deliver("invoice.paid", invoice("in_1", "sub_1", first=True))
    await market.deliver("invoice.paid", invoice("in_2", "sub_1", first=False))
    duplicate = invoice("in_2", "sub_1", first=False)
    assert "already recorded" in (await market.deliver("invoice.paid", duplicate)).outcome
    assert await market.rows() == [("sale", 900, 90, 810), ("renewal", 900, 90, 810)]
    statement = await EarningsService(market.db).statement(
        market.publisher, *(_today(), _today()))
    assert [(p, t.sold, t.fee, t.net, t.sales) for p, t in statement.per_pack] == [
        (MONTHLY, 1800, 180, 1620, 2)]


async def test_refunds_reverse_the_share_in_proportion_and_end_the_purchase(market):
    await market.open_order()
    await market.deliver("checkout.session.completed", checkout_session(
        market.customer, PACK, session_id="cs_1", payment_intent="pi_1", amount_total=PRICE))
    partial = await market.deliver("charge.refunded", paid_charge("pi_1", refunded=500))
    assert "refund recorded: gross -500, net -450" in partial.outcome
    assert await market.owns()  # a partial refund keeps access
    await market.deliver("charge.refunded", paid_charge("pi_1", refunded=PRICE))
    assert not await market.owns()
    rows = await market.rows()
    assert rows == [("sale", 1500, 150, 1350), ("refund", -500, -50, -450),
                    ("refund", -1000, -100, -900)]
    assert [sum(column) for column in list(zip(*rows, strict=True))[1:]] == [0, 0, 0]
    # The transfer reversal Stripe must make (up to the refunded total): the fake API base
    # refuses it, so it stays pending with the error, to be retried; the events were applied.
    async with market.db.read() as session:
        reversals = list((await session.execute(
            select(TransferReversal).order_by(TransferReversal.target_reversed))).scalars())
    assert [(r.transfer_ref, r.target_reversed, r.status) for r in reversals] == [
        ("tr_1", 500, "pending"), ("tr_1", 1500, "pending")]
    assert all(r.error and r.attempts >= 1 for r in reversals)


async def test_refund_events_out_of_order_and_twice_count_once(market):
    await market.open_order()
    full = event("charge.refunded", paid_charge("pi_1", refunded=PRICE))
    partial = event("charge.refunded", paid_charge("pi_1", refunded=500))
    completed = event("checkout.session.completed", checkout_session(
        market.customer, PACK, session_id="cs_1", payment_intent="pi_1", amount_total=PRICE))
    for payload in (full, partial, completed, full, completed):
        await market.billing.handle_webhook(payload, sign(payload))
    # The refund came first: the sale is recorded (the money was taken) but grants nothing.
    assert not await market.owns()
    assert sorted(await market.rows()) == [("refund", -1500, -150, -1350),
                                           ("sale", 1500, 150, 1350)]


async def test_a_refund_that_names_no_pack_before_its_sale_is_recorded_with_the_sale(market):
    await market.open_order()
    await market.deliver("charge.refunded", paid_charge("pi_1", refunded=PRICE, metadata=False))
    assert await market.rows() == []  # nothing to attribute it to yet; the tombstone waits
    completed = await market.deliver("checkout.session.completed", checkout_session(
        market.customer, PACK, session_id="cs_1", payment_intent="pi_1", amount_total=PRICE))
    assert completed.outcome.startswith("ignored: payment pi_1 was refunded")
    assert await market.rows() == [("sale", 1500, 150, 1350), ("refund", -1500, -150, -1350)]


async def test_a_lost_dispute_reverses_and_revokes_a_won_one_restores_nothing(market):
    await market.open_order()
    await market.deliver("checkout.session.completed", checkout_session(
        market.customer, PACK, session_id="cs_1", payment_intent="pi_1", amount_total=PRICE))
    dispute = {"id": "dp_1", "object": "dispute", "amount": PRICE, "currency": "usd",
               "charge": "ch_1", "payment_intent": "pi_1", "status": "won"}
    won = await market.deliver("charge.dispute.closed", dispute)
    assert won.outcome == "dispute dp_1 won: nothing reversed or restored"
    assert await market.owns() and await market.rows() == [("sale", 1500, 150, 1350)]
    lost = await market.deliver("charge.dispute.closed", {**dispute, "id": "dp_2",
                                                          "status": "lost"})
    assert lost.outcome.startswith("dispute lost: refunded: 1 entitlement(s) revoked")
    assert not await market.owns()
    assert await market.rows() == [("sale", 1500, 150, 1350),
                                   ("dispute_lost", -1500, -150, -1350)]
    # A refund reported after the loss cannot take back more than was sold.
    await market.deliver("charge.refunded", paid_charge("pi_1", refunded=PRICE))
    assert len(await market.rows()) == 2


async def test_a_lost_dispute_before_its_sale(market):
    await market.open_order()
    await market.deliver("charge.dispute.closed", {
        "id": "dp_1", "object": "dispute", "amount": PRICE, "currency": "usd",
        "charge": "ch_1", "payment_intent": "pi_1", "status": "lost"})
    await market.deliver("checkout.session.completed", checkout_session(
        market.customer, PACK, session_id="cs_1", payment_intent="pi_1", amount_total=PRICE))
    assert not await market.owns()
    assert await market.rows() == [("sale", 1500, 150, 1350),
                                   ("dispute_lost", -1500, -150, -1350)]


async def test_the_earnings_ledger_is_append_only(market):
    await market.deliver("invoice.paid", invoice("in_1", "sub_1", first=True))
    from sqlalchemy import delete, update

    for statement in (update(EarningsEntry).values(net=0), delete(EarningsEntry)):
        with pytest.raises(Exception, match="append-only"):
            async with market.db.write() as session:
                await session.execute(statement)
    assert await market.rows() == [("sale", 900, 90, 810)]


def _today():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


# --- the approval rule ---------------------------------------------------------------------------
async def test_a_paid_pack_needs_a_publisher_who_can_receive_payouts(
    db, stripe_settings, accounts, tmp_path: Path  # noqa: F811
):
    from core.packs.signing import load_private_key, prove_key_possession
    from core.packs.store import PackStore
    from core.publishing import PublishingService
    from tests.core.publishing.conftest import SERVED_MODEL, FakeBilling, Signer

    db.settings = stripe_settings
    provider = StripeBilling(stripe_settings)
    payouts = PayoutService(db, provider)
    catalog, store = CatalogService(db), PackStore(stripe_settings)
    live: list[Any] = []

    async def on_approved(installed: Any) -> None:
        live.append(installed)

    service = PublishingService(
        accounts=accounts, catalog=catalog, store=store, billing=FakeBilling(),  # type: ignore[arg-type]
        embedding=SERVED_MODEL, archive_limits=stripe_settings.archive_limits,
        uploads_dir=stripe_settings.data_dir / "uploads", trust_dir=stripe_settings.trust_dir,
        on_approved=on_approved, payouts=payouts,
    )
    from core.packs.signing import generate_keypair

    signer = Signer(*generate_keypair(tmp_path / "keys", "publisher"))
    publisher, _ = await accounts.create_account("Acme", "publisher")
    admin, _ = await accounts.create_account("Ops", "admin")
    await accounts.register_publisher_key(
        publisher.account_id, signer.public.read_text(),
        prove_key_possession(load_private_key(signer.private), publisher.account_id),
    )
    upload = tmp_path / "incoming.part"
    upload.write_bytes(signer.build(tmp_path).read_bytes())
    await service.accept_upload(publisher.account_id, upload)

    with pytest.raises(PayoutsNotEnabled, match="has not started payout onboarding"):
        await service.approve("demo-pack", "1.0.0", admin_account_id=admin.account_id)
    async with db.write() as session:
        session.add(PayoutAccount(account_id=publisher.account_id, provider="stripe",
                                  account_ref=ACCT))
    billing = BillingService(db, provider, catalog=catalog, entitlements=EntitlementService(db))
    for submitted, payouts_on, message in ((False, False, "not completed"),
                                           (True, False, "payouts not enabled")):
        payload = event("account.updated", account(submitted=submitted, payouts=payouts_on))
        await billing.handle_webhook(payload, sign(payload))
        with pytest.raises(PayoutsNotEnabled, match=message):
            await service.approve("demo-pack", "1.0.0", admin_account_id=admin.account_id)
    # Refused every time before anything was installed: still pending, nothing live.
    assert (await catalog.get_version("demo-pack", "1.0.0")).status == "pending"
    assert live == [] and not (stripe_settings.packs_dir / "demo-pack").exists()
    payload = event("account.updated", account(submitted=True, payouts=True),
                    created=int(time.time()) + 5)
    await billing.handle_webhook(payload, sign(payload))
    approved = await service.approve("demo-pack", "1.0.0", admin_account_id=admin.account_id)
    assert approved.status == "approved" and len(live) == 1
