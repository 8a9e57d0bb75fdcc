"""The Stripe provider: every webhook rule with signed Stripe-shaped events, each signature
rejection, localstripe for customers/payments/refunds/subscriptions, and real test mode."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from core.errors import ConfigError, WebhookSignatureError
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import AuditEntry, CheckoutOrder, Entitlement, ProcessedBillingEvent
from plugins.local_billing import LocalBilling
from plugins.stripe_billing import StripeBilling, packdesk_billing_providers
from tests.core.ledger.conftest import accounts, catalog, db  # noqa: F401 - fixtures
from tests.core.ledger.conftest import open_order as store_order

from .stripe_helpers import WEBHOOK_SECRET, charge, checkout_session, event, sign, subscription

DAY = 86400


@pytest.fixture
def stripe_settings(settings):
    settings.stripe_api_key = SecretStr("sk_test_packdesk_fake")
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.stripe_api_base = "http://127.0.0.1:9"  # nothing listens: webhooks need no API
    return settings


def make_billing(db, settings, catalog) -> BillingService:  # noqa: F811
    return BillingService(
        db, StripeBilling(settings), catalog=catalog, entitlements=EntitlementService(db)
    )


@pytest.fixture
async def billing(db, stripe_settings, catalog):  # noqa: F811
    db.settings = stripe_settings
    return make_billing(db, stripe_settings, catalog)


@pytest.fixture
async def customer(accounts):  # noqa: F811
    account, _ = await accounts.create_account("Ann", "customer")
    return account.account_id


async def deliver(billing: BillingService, payload: bytes, header: str | None = None):
    return await billing.handle_webhook(payload, header or sign(payload))


async def open_order(db, account_id: str, pack_id: str, **columns: object) -> None:  # noqa: F811
    """The order ``start_checkout`` stores for a Stripe checkout session (``cs_test_1``)."""
    columns.setdefault("session_id", "cs_test_1")
    await store_order(db, account_id, pack_id, provider="stripe", **columns)


async def state(db) -> tuple[list[tuple[str, str]], int]:  # noqa: F811
    async with db.read() as session:
        rows = [
            tuple(r)
            for r in await session.execute(
                select(Entitlement.pack_id, Entitlement.status).order_by(Entitlement.entitlement_id)
            )
        ]
        events = (
            await session.execute(select(func.count()).select_from(ProcessedBillingEvent))
        ).scalar_one()
    return rows, events


def test_registered_only_with_a_key(settings, stripe_settings):
    assert (
        packdesk_billing_providers(settings=settings.model_copy(update={"stripe_api_key": None}))
        == []
    )
    assert [p.name for p in packdesk_billing_providers(settings=stripe_settings)] == ["stripe"]
    with pytest.raises(ConfigError):
        LocalBilling(stripe_settings)


# --- signature rejections: each leaves no trace -----------------------------------------------
def _tampered(payload: bytes) -> tuple[bytes, str]:
    return payload.replace(b"finance", b"medical"), sign(payload)


REJECTIONS = {
    "missing": lambda p: (p, None),
    "malformed": lambda p: (p, "garbage-without-fields"),
    "wrong-secret": lambda p: (p, sign(p, secret="whsec_someone_else")),
    "tampered": _tampered,
    "stale": lambda p: (p, sign(p, timestamp=int(time.time()) - 3600)),
}


@pytest.mark.parametrize("reason", list(REJECTIONS))
async def test_bad_signatures_are_rejected_without_state_change(billing, customer, db, reason):  # noqa: F811
    payload = event("checkout.session.completed", checkout_session(customer, "finance"))
    body, header = REJECTIONS[reason](payload)
    with pytest.raises(WebhookSignatureError):
        await billing.handle_webhook(body, header)
    assert await state(db) == ([], 0)
    assert not await EntitlementService(db).may_read(customer, "finance")


# --- event rules --------------------------------------------------------------------------------
async def test_completed_paid_checkout_grants_once(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    payload = event("checkout.session.completed", checkout_session(customer, "finance"))
    first = await deliver(billing, payload)
    again = await deliver(billing, payload)
    assert (first.outcome, again.duplicate) == ("granted", True)
    assert await state(db) == ([("finance", "active")], 1)
    assert await billing.customer_ref(customer) == "cus_1"


async def test_concurrent_deliveries_of_one_webhook_grant_once(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    payload = event("checkout.session.completed", checkout_session(customer, "finance"))
    outcomes = await asyncio.gather(*(deliver(billing, payload) for _ in range(20)))
    assert sum(not o.duplicate for o in outcomes) == 1
    assert await state(db) == ([("finance", "active")], 1)


async def test_unpaid_completion_waits_then_async_success_grants(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    session = checkout_session(customer, "finance", payment_status="unpaid")
    await deliver(billing, event("checkout.session.completed", session))
    assert (await state(db))[0] == []
    session["payment_status"] = "paid"
    await deliver(billing, event("checkout.session.async_payment_succeeded", session))
    assert (await state(db))[0] == [("finance", "active")]


async def test_async_payment_failure_grants_nothing(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    session = checkout_session(customer, "finance", payment_status="unpaid")
    await deliver(billing, event("checkout.session.completed", session))
    await deliver(billing, event("checkout.session.async_payment_failed", session))
    assert (await state(db))[0] == []
    async with db.read() as s:
        assert (await s.get(CheckoutOrder, "cs_test_1")).status == "failed"


async def test_full_refund_revokes_partial_keeps(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    await deliver(
        billing,
        event(
            "checkout.session.completed",
            checkout_session(customer, "finance", payment_intent="pi_9"),
        ),
    )
    charge = {
        "id": "ch_1",
        "object": "charge",
        "amount": 1500,
        "amount_refunded": 500,
        "refunded": False,
        "payment_intent": "pi_9",
        "customer": "cus_1",
    }
    await deliver(billing, event("charge.refunded", charge))
    assert await EntitlementService(db).may_read(customer, "finance")
    charge.update(amount_refunded=1500, refunded=True)
    await deliver(billing, event("charge.refunded", charge))
    assert (await state(db))[0] == [("finance", "refunded")]
    assert not await EntitlementService(db).may_read(customer, "finance")


async def test_subscription_lifecycle(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "medical")
    entitlements = EntitlementService(db)
    session = checkout_session(customer, "medical", mode="subscription", subscription="sub_1")
    await deliver(billing, event("checkout.session.completed", session))
    assert await entitlements.may_read(customer, "medical")
    future = int(time.time()) + 30 * 86400
    await deliver(
        billing, event("customer.subscription.updated", subscription("sub_1", "past_due", future))
    )
    assert not await entitlements.may_read(customer, "medical")
    await deliver(
        billing, event("customer.subscription.updated", subscription("sub_1", "active", future))
    )
    assert await entitlements.may_read(customer, "medical")
    async with db.read() as s:
        row = (await s.execute(select(Entitlement))).scalar_one()
        assert abs(row.current_period_end.timestamp() - future) < 1
    await deliver(
        billing, event("customer.subscription.deleted", subscription("sub_1", "canceled", future))
    )
    assert (await state(db))[0] == [("medical", "canceled")]
    assert not await entitlements.may_read(customer, "medical")


async def test_entitlement_summary_reconciles_subscriptions(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "medical")
    await open_order(db, customer, "finance", session_id="cs_2")
    await deliver(
        billing,
        event(
            "checkout.session.completed",
            checkout_session(customer, "medical", mode="subscription", subscription="sub_1"),
        ),
    )
    await deliver(
        billing,
        event(
            "checkout.session.completed",
            checkout_session(customer, "finance", session_id="cs_2", payment_intent="pi_2"),
        ),
    )
    summary = {
        "object": "entitlements.active_entitlement_summary",
        "customer": "cus_1",
        "livemode": False,
        "entitlements": {"object": "list", "data": []},
    }
    outcome = await deliver(
        billing, event("entitlements.active_entitlement_summary.updated", summary)
    )
    assert outcome.outcome == "reconciled: 0 granted, 1 revoked"
    entitlements = EntitlementService(db)
    assert not await entitlements.may_read(customer, "medical")
    assert await entitlements.may_read(customer, "finance")  # one-time purchase untouched
    summary["entitlements"]["data"] = [
        {
            "id": "ent_1",
            "object": "entitlements.active_entitlement",
            "feature": "feat_1",
            "lookup_key": "packdesk-pack-medical",
            "livemode": False,
        }
    ]
    await deliver(billing, event("entitlements.active_entitlement_summary.updated", summary))
    assert await entitlements.may_read(customer, "medical")


async def test_unknown_event_types_are_acknowledged(billing, db):  # noqa: F811
    outcome = await deliver(billing, event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    assert outcome.outcome.startswith("ignored") and (await state(db)) == ([], 1)


async def test_a_stripe_checkout_cannot_be_confirmed_on_this_server(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    session = checkout_session(customer, "finance", payment_status="unpaid")
    await deliver(billing, event("checkout.session.completed", session))
    assert (await billing.get_order("cs_test_1"))["status"] == "awaiting_payment"
    with pytest.raises(ConfigError, match="'stripe' completes its own checkouts"):
        await billing.confirm_checkout("cs_test_1")
    assert await state(db) == ([], 1)
    assert (await billing.get_order("cs_test_1"))["status"] == "awaiting_payment"


# --- delivery order: Stripe neither orders nor stops retrying (issue 14, defect 2) -------------
async def entitlement_row(db, pack_id: str) -> Entitlement | None:  # noqa: F811
    async with db.read() as s:
        return (
            await s.execute(select(Entitlement).where(Entitlement.pack_id == pack_id))
        ).scalar_one_or_none()


async def test_refund_before_completion_grants_nothing(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    refund = await deliver(billing, event("charge.refunded", charge("pi_1")))
    assert refund.outcome.startswith("refunded")
    completed = await deliver(
        billing, event("checkout.session.completed", checkout_session(customer, "finance"))
    )
    assert completed.outcome == "ignored: payment pi_1 was refunded", completed.outcome
    assert not await EntitlementService(db).may_read(customer, "finance")
    assert (await state(db))[0] == []
    assert (await billing.get_order("cs_test_1"))["status"] == "refunded"
    # The async success of the same payment is refused the same way.
    late = await deliver(
        billing,
        event("checkout.session.async_payment_succeeded", checkout_session(customer, "finance")),
    )
    assert late.outcome == "ignored: payment pi_1 was refunded"
    assert (await state(db))[0] == []


async def test_partial_refund_before_completion_still_grants(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "finance")
    await deliver(billing, event("charge.refunded", charge("pi_1", refunded_amount=500)))
    completed = await deliver(
        billing, event("checkout.session.completed", checkout_session(customer, "finance"))
    )
    assert completed.outcome == "granted"


async def test_subscription_deleted_before_completion_grants_nothing(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "medical")
    ends = int(time.time()) + 30 * DAY
    await deliver(
        billing, event("customer.subscription.deleted", subscription("sub_1", "canceled", ends))
    )
    session = checkout_session(customer, "medical", mode="subscription", subscription="sub_1")
    completed = await deliver(billing, event("checkout.session.completed", session))
    assert completed.outcome == "ignored: subscription sub_1 has ended", completed.outcome
    assert (await state(db))[0] == []
    assert not await EntitlementService(db).may_read(customer, "medical")


@pytest.mark.parametrize("offset", [-1, +1], ids=["created-before-deletion", "created-after"])
async def test_an_update_after_deletion_never_reactivates(billing, customer, db, offset):  # noqa: F811
    """A retried (stale) ``updated(active)`` after ``deleted``, whatever its timestamp says."""
    await open_order(db, customer, "medical")
    now = int(time.time())
    ends = now + 30 * DAY
    meta = {"account_id": customer, "pack_id": "medical"}
    session = checkout_session(customer, "medical", mode="subscription", subscription="sub_1")
    await deliver(billing, event("checkout.session.completed", session, created=now))
    ended = subscription("sub_1", "canceled", ends, **meta)
    await deliver(billing, event("customer.subscription.deleted", ended, created=now + 10))
    stale = subscription("sub_1", "active", ends, **meta)
    outcome = await deliver(
        billing, event("customer.subscription.updated", stale, created=now + 10 + offset)
    )
    assert outcome.outcome == "ignored: subscription sub_1 has ended", outcome.outcome
    assert (await state(db))[0] == [("medical", "canceled")]
    assert not await EntitlementService(db).may_read(customer, "medical")


async def test_an_older_update_does_not_overwrite_a_newer_one(billing, customer, db):  # noqa: F811
    await open_order(db, customer, "medical")
    now = int(time.time())
    session = checkout_session(customer, "medical", mode="subscription", subscription="sub_1")
    await deliver(billing, event("checkout.session.completed", session, created=now))
    renewed = subscription("sub_1", "active", now + 60 * DAY)
    await deliver(billing, event("customer.subscription.updated", renewed, created=now + 30))
    older = subscription("sub_1", "past_due", now + 30 * DAY)
    outcome = await deliver(
        billing, event("customer.subscription.updated", older, created=now + 20)
    )
    assert outcome.outcome.startswith("ignored: stale"), outcome.outcome
    assert await EntitlementService(db).may_read(customer, "medical")
    row = await entitlement_row(db, "medical")
    assert row is not None and abs(row.current_period_end.timestamp() - (now + 60 * DAY)) < 1


async def test_subscription_events_before_completion_decide_the_grant(billing, customer, db):  # noqa: F811
    """created(active) and updated(past_due) arrive first: the late completion grants a
    suspended entitlement with the subscription's period end (never one without an end)."""
    await open_order(db, customer, "medical")
    now = int(time.time())
    meta = {"account_id": customer, "pack_id": "medical"}
    created = subscription("sub_1", "active", now + 30 * DAY, **meta)
    await deliver(billing, event("customer.subscription.created", created, created=now))
    assert not await EntitlementService(db).may_read(customer, "medical")  # no order paid yet
    past_due = subscription("sub_1", "past_due", now + 30 * DAY, **meta)
    await deliver(billing, event("customer.subscription.updated", past_due, created=now + 5))
    session = checkout_session(customer, "medical", mode="subscription", subscription="sub_1")
    completed = await deliver(billing, event("checkout.session.completed", session, created=now))
    assert completed.outcome == "granted"
    row = await entitlement_row(db, "medical")
    assert row is not None and row.status == "suspended"
    assert abs(row.current_period_end.timestamp() - (now + 30 * DAY)) < 1
    active = subscription("sub_1", "active", now + 60 * DAY, **meta)
    await deliver(billing, event("customer.subscription.updated", active, created=now + 9))
    assert await EntitlementService(db).may_read(customer, "medical")


async def test_an_expired_or_failed_order_is_not_reopened_by_a_late_completion(
    billing,
    customer,
    db,  # noqa: F811
):
    await open_order(db, customer, "finance")
    unpaid = checkout_session(customer, "finance", payment_status="unpaid")
    await deliver(billing, event("checkout.session.async_payment_failed", unpaid))
    await deliver(billing, event("checkout.session.completed", unpaid))
    assert (await billing.get_order("cs_test_1"))["status"] == "failed"


# --- the completed checkout must be the stored order -------------------------------------------
MISMATCHES = {
    "amount": ({"amount_total": 100}, "amount 100 != 1500"),
    "currency": ({"currency": "eur"}, "currency 'eur' != 'usd'"),
    "version": ({"version": "0.9.0"}, "version '0.9.0' != '1.0.0'"),
    "mode": ({"mode": "subscription", "subscription": "sub_1", "amount_total": 1500}, "mode"),
}


@pytest.mark.parametrize("reason", list(MISMATCHES))
async def test_a_completion_unlike_its_order_grants_nothing(billing, customer, db, reason):  # noqa: F811
    await open_order(db, customer, "finance")
    changes, expected = MISMATCHES[reason]
    session = checkout_session(customer, "finance", **changes)
    outcome = await deliver(billing, event("checkout.session.completed", session))
    assert outcome.outcome.startswith("ignored: checkout cs_test_1 does not match its order")
    assert expected in outcome.outcome, outcome.outcome
    assert (await state(db)) == ([], 1)
    assert not await EntitlementService(db).may_read(customer, "finance")
    async with db.read() as s:
        actions = [
            row.action
            for row in (await s.execute(select(AuditEntry).order_by(AuditEntry.entry_id))).scalars()
        ]
    assert "order.mismatch" in actions


async def test_a_completion_for_another_account_or_pack_grants_nothing(
    billing,
    customer,
    accounts,  # noqa: F811
    db,  # noqa: F811
):
    other, _ = await accounts.create_account("Bob", "customer")
    await open_order(db, customer, "finance")
    for account_id, pack_id in ((other.account_id, "finance"), (customer, "medical")):
        session = checkout_session(account_id, pack_id, amount_total=1500)
        outcome = await deliver(billing, event("checkout.session.completed", session))
        assert outcome.outcome.startswith("ignored: checkout cs_test_1 does not match"), outcome
    assert (await state(db)) == ([], 2)


async def test_a_completion_without_a_stored_order_grants_nothing(billing, customer, db):  # noqa: F811
    outcome = await deliver(
        billing, event("checkout.session.completed", checkout_session(customer, "finance"))
    )
    assert outcome.outcome == "ignored: no stored checkout order cs_test_1", outcome.outcome
    assert (await state(db)) == ([], 1)


# --- localstripe -------------------------------------------------------------------------------
@pytest.fixture
async def localstripe(tmp_path):
    """A localstripe server on a free loopback port, with a wiped state file; stopped after."""
    import socket
    import subprocess
    import sys

    import httpx

    pickle = "/tmp/localstripe.pickle"
    if os.path.exists(pickle):
        os.remove(pickle)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "localstripe.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.get(
                        f"{base}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}
                    )
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("localstripe did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        if os.path.exists(pickle):
            os.remove(pickle)


@pytest.fixture
async def webhook_receiver(billing):
    """A loopback HTTP endpoint that hands raw body + Stripe-Signature to the provider."""
    from aiohttp import web

    received: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            outcome = await billing.handle_webhook(body, request.headers.get("Stripe-Signature"))
        except WebhookSignatureError:
            return web.Response(status=400)
        received.append(json.loads(body)["type"] + " -> " + outcome.outcome)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/billing/stripe/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1/billing/stripe/webhook", received
    await runner.cleanup()


async def wait_for(received: list[str], prefix: str, timeout: float = 8.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in received:
            if line.startswith(prefix):
                return line
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {prefix} delivery; got {received}")


async def test_against_localstripe(localstripe, webhook_receiver, billing, customer, db):  # noqa: F811
    import httpx
    import stripe

    url, received = webhook_receiver
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{localstripe}/_config/webhooks/packdesk", data={"url": url, "secret": WEBHOOK_SECRET}
        )
        assert response.status_code == 200
    billing.provider.client = stripe.StripeClient(
        "sk_test_packdesk_fake", base_addresses={"api": localstripe}
    )
    client = billing.provider.client.v1
    entitlements = EntitlementService(db)

    # A Customer per account, created by the provider and remembered by the ledger.
    cus = await billing.provider.create_customer(customer)
    assert cus.startswith("cus_") and await billing.remember_customer(customer, cus) == cus
    assert await billing.customer_ref(customer) == cus
    await wait_for(received, "customer.created -> ignored")
    card = await client.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }
    )
    await client.payment_methods.attach_async(card.id, params={"customer": cus})
    await client.customers.update_async(
        cus, params={"invoice_settings": {"default_payment_method": card.id}}
    )

    # A one-time purchase: a real payment intent; Checkout is not in localstripe, so its
    # completion is a signed event that names that payment intent.
    intent = await client.payment_intents.create_async(
        params={
            "amount": 1500,
            "currency": "usd",
            "customer": cus,
            "payment_method": card.id,
            "metadata": {"account_id": customer, "pack_id": "finance"},
        }
    )
    intent = await client.payment_intents.confirm_async(intent.id)
    assert intent.status == "succeeded"
    await wait_for(received, "payment_intent.succeeded -> ignored")
    await open_order(db, customer, "finance")
    await deliver(
        billing,
        event(
            "checkout.session.completed",
            checkout_session(customer, "finance", payment_intent=intent.id, customer=cus),
        ),
    )
    assert await entitlements.may_read(customer, "finance")

    # Refund it: localstripe emits no charge.refunded, so sign one from the real charge.
    await client.refunds.create_async(params={"payment_intent": intent.id})
    latest = intent.latest_charge  # localstripe expands it; Stripe returns the id
    charge = await client.charges.retrieve_async(latest if isinstance(latest, str) else latest.id)
    charge_dict = charge.to_dict()
    charge_dict.update(refunded=True, amount_refunded=charge_dict["amount"])
    await deliver(billing, event("charge.refunded", charge_dict))
    assert not await entitlements.may_read(customer, "finance")

    # A subscription via a plan: localstripe's own signed deliveries record its state and revoke;
    # the grant comes from the completed checkout (not in localstripe: signed here) of the
    # stored order, with the period end the subscription event recorded.
    product = await client.products.create_async(params={"name": "Medical", "type": "service"})
    plan = await client.plans.create_async(
        params={"amount": 900, "currency": "usd", "interval": "month", "product": product.id}
    )
    sub = await client.subscriptions.create_async(
        params={
            "customer": cus,
            "items": [{"plan": plan.id}],
            "metadata": {"account_id": customer, "pack_id": "medical"},
        }
    )
    assert sub.status == "active"
    line = await wait_for(received, "customer.subscription.created")
    assert line.endswith("recorded, no entitlement yet"), line
    assert not await entitlements.may_read(customer, "medical")
    await open_order(db, customer, "medical", session_id="cs_test_sub")
    session = checkout_session(
        customer, "medical", session_id="cs_test_sub", mode="subscription",
        subscription=sub.id, customer=cus,
    )
    assert (await deliver(billing, event("checkout.session.completed", session))).outcome == (
        "granted"
    )
    assert await entitlements.may_read(customer, "medical")
    async with db.read() as s:
        row = (
            await s.execute(select(Entitlement).where(Entitlement.pack_id == "medical"))
        ).scalar_one()
    assert row.current_period_end is not None  # from customer.subscription.created
    await client.subscriptions.cancel_async(sub.id)
    line = await wait_for(received, "customer.subscription.deleted")
    assert "1 entitlement(s) revoked" in line
    assert not await entitlements.may_read(customer, "medical")


# --- real Stripe test mode ----------------------------------------------------------------------
LIVE_KEY = os.environ.get("PACKDESK_STRIPE_API_KEY", "")


@pytest.mark.stripe_live
@pytest.mark.skipif(
    not LIVE_KEY.startswith("sk_test_"),
    reason="needs PACKDESK_STRIPE_API_KEY=sk_test_... (real Stripe test mode)",
)
async def test_live_price_sync_and_checkout(settings, accounts, catalog, db):  # noqa: F811
    settings.stripe_api_key = SecretStr(LIVE_KEY)
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    db.settings = settings
    billing = make_billing(db, settings, catalog)
    account, _ = await accounts.create_account("Live", "customer")
    price = await billing.sync_price("finance", "1.0.0")
    assert price and price == await billing.sync_price("finance", "1.0.0")
    session = await billing.start_checkout(account.account_id, "finance")
    assert session.session_id.startswith("cs_test_") and session.checkout_url.startswith("https")


# --- Prices and Checkout (not in localstripe): the real SDK against a recording stub ------------
@pytest.fixture
async def stripe_stub():
    """A loopback stand-in for the Stripe endpoints localstripe lacks; records each request."""
    from urllib.parse import parse_qsl

    from aiohttp import web

    calls: list[tuple[str, str, dict[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        form = dict(parse_qsl(await request.text())) if request.method == "POST" else {}
        calls.append((request.method, request.path, form))
        path = request.path
        if request.method == "GET" and path == "/v1/prices":
            return web.json_response({"object": "list", "data": [], "has_more": False})
        if request.method == "GET" and path.startswith("/v1/products/"):
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such product"}},
                status=404,
            )
        objects = {
            "/v1/products": {"id": form.get("id"), "object": "product"},
            "/v1/prices": {"id": "price_stub_1", "object": "price"},
            "/v1/customers": {"id": "cus_stub_1", "object": "customer"},
            "/v1/checkout/sessions": {
                "id": "cs_test_stub",
                "object": "checkout.session",
                "url": "https://checkout.stripe.com/c/pay/cs_test_stub",
            },
        }
        return web.json_response(objects[path])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", calls
    await runner.cleanup()


@pytest.mark.parametrize("pack_id,mode", [("finance", "payment"), ("medical", "subscription")])
async def test_price_sync_and_checkout_requests(
    stripe_stub,
    stripe_settings,
    db,  # noqa: F811
    catalog,  # noqa: F811
    customer,
    pack_id,
    mode,
):
    base, calls = stripe_stub
    stripe_settings.stripe_api_base = base
    db.settings = stripe_settings
    billing = make_billing(db, stripe_settings, catalog)
    session = await billing.start_checkout(customer, pack_id)
    assert session.session_id == "cs_test_stub" and session.test_mode
    posted = {path: form for method, path, form in calls if method == "POST"}
    price = posted["/v1/prices"]
    assert price["lookup_key"] == f"packdesk:{pack_id}:1.0.0"
    assert price["product"] == f"packdesk_{pack_id}"
    assert ("recurring[interval]" in price) == (mode == "subscription")
    assert posted["/v1/customers"]["metadata[account_id]"] == customer
    checkout = posted["/v1/checkout/sessions"]
    assert checkout["mode"] == mode and checkout["customer"] == "cus_stub_1"
    assert checkout["line_items[0][price]"] == "price_stub_1"
    assert checkout["metadata[account_id]"] == customer
    assert checkout["metadata[pack_id]"] == pack_id and checkout["metadata[version]"] == "1.0.0"
    # What the completion is compared with (defect 2 of issue 14).
    assert checkout["metadata[price_id]"] == "price_stub_1"
    assert checkout["metadata[price_lookup_key]"] == f"packdesk:{pack_id}:1.0.0"
    assert checkout["success_url"].startswith("http://127.0.0.1:8000/v1/billing/success")
    assert (await billing.get_order("cs_test_stub"))["status"] == "open"
    # The stored price and customer are reused: no second Price or Customer is created.
    calls.clear()
    await billing.start_checkout(customer, pack_id)
    assert [p for m, p, _ in calls if m == "POST"] == ["/v1/checkout/sessions"]


async def test_a_completion_for_another_price_grants_nothing(
    stripe_stub,
    stripe_settings,
    db,  # noqa: F811
    catalog,  # noqa: F811
    customer,
):
    """The order keeps the price it was opened with; a session naming another is refused."""
    base, _ = stripe_stub
    stripe_settings.stripe_api_base = base
    db.settings = stripe_settings
    billing = make_billing(db, stripe_settings, catalog)
    opened = await billing.start_checkout(customer, "finance")
    other = checkout_session(customer, "finance", session_id=opened.session_id,
                             price_id="price_other")
    outcome = await deliver(billing, event("checkout.session.completed", other))
    assert "price 'price_other' != 'price_stub_1'" in outcome.outcome, outcome.outcome
    assert not await EntitlementService(db).may_read(customer, "finance")
    same = checkout_session(customer, "finance", session_id=opened.session_id,
                            price_id="price_stub_1")
    assert (await deliver(billing, event("checkout.session.completed", same))).outcome == (
        "granted"
    )
