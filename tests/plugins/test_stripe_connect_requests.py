"""The Stripe Connect requests PackDesk sends: each body checked against the SDK's own params
types, then sent by the real SDK to a loopback stub that records them (localstripe has no
Connect). Real test mode runs only with a Stripe test key (``stripe_live``)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import SecretStr
from stripe.params import AccountCreateParams, AccountLinkCreateParams, TransferReversalCreateParams
from stripe.params.checkout import SessionCreateParams

from core.ledger.billing import CheckoutRequest
from core.ledger.catalog import CatalogService
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import TransferReversal
from core.ledger.payouts import PayoutService
from plugins.stripe_billing import (
    StripeBilling,
    account_link_params,
    account_params,
    checkout_params,
    reversal_params,
)
from tests.core.ledger.conftest import accounts, db, make_manifest  # noqa: F401 - fixtures

from .stripe_helpers import WEBHOOK_SECRET, event, sign
from .stripe_types import check_params


def purchase(model: str, **share: Any) -> CheckoutRequest:
    return CheckoutRequest(
        account_id="acc_1", pack_id="pet-care", pack_version="1.0.0", pack_name="Pet care",
        pricing_model=model, amount=1500, currency="usd",
        success_url="https://example.test/ok", cancel_url="https://example.test/no",
        price_ref="price_1", customer_ref="cus_1", **share,
    )


DESTINATION = {"destination_ref": "acct_1", "application_fee": 150, "fee_bps": 1000}


@pytest.mark.parametrize("model", ["one_time", "monthly"])
@pytest.mark.parametrize("third_party", [True, False], ids=["destination", "operator"])
def test_checkout_bodies_fit_the_sdk_types(model: str, third_party: bool) -> None:
    params = checkout_params(purchase(model, **(DESTINATION if third_party else {})), "cus_1")
    assert check_params(params, SessionCreateParams) == []
    data = params["subscription_data"] if model == "monthly" else params["payment_intent_data"]
    assert ("transfer_data" in data) == third_party
    if third_party and model == "monthly":
        assert data["application_fee_percent"] == 10.0  # type: ignore[typeddict-item]
        assert data["transfer_data"] == {"destination": "acct_1"}
    if third_party and model == "one_time":
        assert data["application_fee_amount"] == 150  # type: ignore[typeddict-item]


def test_connect_bodies_fit_the_sdk_types() -> None:
    assert check_params(account_params("acc_1", "Pets Ltd"), AccountCreateParams) == []
    link = account_link_params("acct_1", "https://x.test/refresh", "https://x.test/return")
    assert check_params(link, AccountLinkCreateParams) == []
    assert check_params(reversal_params(500, 1500), TransferReversalCreateParams) == []


@pytest.mark.parametrize(
    "body,params_type,problem",
    [
        ({"account": "acct_1", "type": "account_onboarding", "return_ur": "x"},
         AccountLinkCreateParams, "return_ur: not a field"),
        ({"type": "account_onboarding"}, AccountLinkCreateParams, "account: required"),
        ({"amount": "500"}, TransferReversalCreateParams, "is not a int"),
        ({"amount": 5, "refund_application_fee": "yes"}, TransferReversalCreateParams, "bool"),
        ({"mode": "payment", "payment_intent_data": {"transfer_data": {"destinaton": "a"}}},
         SessionCreateParams, "destinaton: not a field"),
        ({"mode": 3}, SessionCreateParams, "3 is none of"),
        ({"mode": "subscription", "subscription_data": {"application_fee_percent": "10"}},
         SessionCreateParams, "application_fee_percent"),
    ],
)
def test_the_type_check_refuses_what_does_not_fit(body, params_type, problem) -> None:  # type: ignore[no-untyped-def]
    problems = check_params(body, params_type)
    assert any(problem in line for line in problems), problems


# --- the real SDK against a recording stub ---------------------------------------------------
@pytest.fixture
async def connect_stub():
    """Loopback stand-ins for Stripe's Connect endpoints; records method, path, form, headers."""
    from urllib.parse import parse_qsl

    from aiohttp import web

    calls: list[tuple[str, str, dict[str, str], dict[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        form = dict(parse_qsl(await request.text())) if request.method == "POST" else {}
        calls.append((request.method, request.path, form, dict(request.headers)))
        method, path = request.method, request.path
        if method == "GET" and path == "/v1/prices":
            return web.json_response({"object": "list", "data": [], "has_more": False})
        if method == "GET" and path.startswith("/v1/products/"):
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such product"}},
                status=404,
            )
        if method == "GET" and path == "/v1/charges/ch_1":
            return web.json_response({"id": "ch_1", "object": "charge", "transfer": "tr_1"})
        if method == "GET" and path == "/v1/transfers/tr_1":
            return web.json_response(
                {"id": "tr_1", "object": "transfer", "amount": 1500, "amount_reversed": 0}
            )
        objects = {
            "/v1/accounts": {"id": "acct_stub_1", "object": "account"},
            "/v1/account_links": {"object": "account_link",
                                  "url": "https://connect.stripe.com/setup/e/acct_stub_1/x"},
            "/v1/transfers/tr_1/reversals": {"id": "trr_1", "object": "transfer_reversal"},
            "/v1/products": {"id": form.get("id"), "object": "product"},
            "/v1/prices": {"id": "price_stub_1", "object": "price"},
            "/v1/customers": {"id": "cus_stub_1", "object": "customer"},
            "/v1/checkout/sessions": {"id": "cs_test_stub", "object": "checkout.session",
                                      "url": "https://checkout.stripe.com/c/pay/cs_test_stub"},
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


async def test_onboarding_destination_checkout_and_reversal_requests(
    connect_stub, settings, db, accounts  # noqa: F811
):
    base, calls = connect_stub
    settings.stripe_api_key = SecretStr("sk_test_packdesk_fake")
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.stripe_api_base = base
    db.settings = settings
    provider = StripeBilling(settings)
    publisher, _ = await accounts.create_account("Pets Ltd", "publisher")
    customer, _ = await accounts.create_account("Ann", "customer")
    catalog = CatalogService(db)
    for pack_id, model in (("pet-care", "one_time"), ("pet-plus", "monthly")):
        manifest = make_manifest(pack_id, model=model, amount=1500, publisher="Pets Ltd")
        await catalog.submit_version(publisher.account_id, manifest, "/nowhere.kpack")
        await catalog.approve(pack_id, "1.0.0", admin_account_id="ops")
    billing = BillingService(db, provider, catalog=catalog, entitlements=EntitlementService(db))
    payouts = PayoutService(db, provider)

    status, url = await payouts.start_onboarding(publisher.account_id)
    assert url == "https://connect.stripe.com/setup/e/acct_stub_1/x"
    assert status.account_ref == "acct_stub_1" and not status.can_receive_payouts
    posted = {path: (form, headers) for method, path, form, headers in calls if method == "POST"}
    form, headers = posted["/v1/accounts"]
    assert form["type"] == "express" and form["capabilities[transfers][requested]"] == "true"
    assert form["metadata[account_id]"] == publisher.account_id
    assert headers["Idempotency-Key"] == f"packdesk-connect-{publisher.account_id}"
    link, _ = posted["/v1/account_links"]
    assert (link["account"], link["type"]) == ("acct_stub_1", "account_onboarding")
    assert link["return_url"].endswith("/v1/billing/connect/return")
    assert link["refresh_url"].endswith("/v1/billing/connect/refresh")
    calls.clear()
    await payouts.start_onboarding(publisher.account_id)  # a new link, the same account
    assert [p for m, p, _, _ in calls if m == "POST"] == ["/v1/account_links"]

    payload = event("account.updated", {"id": "acct_stub_1", "object": "account",
                                        "details_submitted": True, "charges_enabled": True,
                                        "payouts_enabled": True})
    await billing.handle_webhook(payload, sign(payload))
    await payouts.set_fee(publisher.account_id, 1000, admin_account_id=None)
    for pack_id, data_key in (("pet-care", "payment_intent_data"),
                              ("pet-plus", "subscription_data")):
        calls.clear()
        await billing.start_checkout(customer.account_id, pack_id)
        session = next(f for m, p, f, _ in calls if p == "/v1/checkout/sessions")
        assert session[f"{data_key}[transfer_data][destination]"] == "acct_stub_1"
        if pack_id == "pet-care":
            assert session["payment_intent_data[application_fee_amount]"] == "150"
        else:
            assert float(session["subscription_data[application_fee_percent]"]) == 10.0
        order = await billing.get_order("cs_test_stub")
        assert (order["destination_ref"], order["publisher_account_id"]) == (
            "acct_stub_1", publisher.account_id)
        async with db.write() as s:  # the stub hands out one session id: free it again
            from sqlalchemy import delete

            from core.ledger.models import CheckoutOrder

            await s.execute(delete(CheckoutOrder))

    # A reversal resolves the transfer from the charge and reverses only what it lacks.
    calls.clear()
    async with db.write() as s:
        s.add(TransferReversal(event_id="evt_r1", provider="stripe", charge_ref="ch_1",
                               transfer_ref=None, target_reversed=500, status="pending",
                               attempts=0))
    assert await billing.settle_reversals() == ["ch_1: trr_1"]
    reversal_form, reversal_headers = next(
        (f, h) for m, p, f, h in calls if p == "/v1/transfers/tr_1/reversals")
    assert reversal_form == {"amount": "500", "refund_application_fee": "true",
                             "metadata[packdesk_target_reversed]": "500"}
    assert reversal_headers["Idempotency-Key"] == "packdesk-reversal-ch_1-500-500"
    async with db.read() as s:
        row = await s.get(TransferReversal, "evt_r1")
    assert (row.status, row.reversal_ref, row.attempts) == ("done", "trr_1", 1)
    assert await billing.settle_reversals() == []  # nothing pending any more


LIVE_KEY = os.environ.get("PACKDESK_STRIPE_API_KEY", "")


@pytest.mark.stripe_live
@pytest.mark.skipif(
    not LIVE_KEY.startswith("sk_test_"),
    reason="needs PACKDESK_STRIPE_API_KEY=sk_test_... (real Stripe test mode, Connect enabled)",
)
async def test_live_express_account_and_onboarding_link(settings, db, accounts):  # noqa: F811
    settings.stripe_api_key = SecretStr(LIVE_KEY)
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.public_base_url = "https://packdesk.example"
    db.settings = settings
    publisher, _ = await accounts.create_account("Live publisher", "publisher")
    status, url = await PayoutService(db, StripeBilling(settings)).start_onboarding(
        publisher.account_id
    )
    assert status.account_ref and status.account_ref.startswith("acct_")
    assert url.startswith("https://connect.stripe.com/")
