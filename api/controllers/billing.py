"""Billing routes: the Stripe webhook, the pages Stripe Checkout returns to, and the local
(test-mode) checkout pages."""

from __future__ import annotations

import html
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from api.auth import PUBLIC
from api.services import AppServices
from core.errors import NotFound
from core.ledger.billing import BillingProvider
from core.ledger.fulfilment import BillingService

TEST_MODE_BANNER = "TEST MODE: local billing provider. No real payment is taken."


class StripeWebhookController(Controller):
    path = "/v1/billing/stripe"
    tags = ["billing"]
    opt = {"auth": "stripe-signature"}  # no API key: the Stripe-Signature header is the auth

    @post("/webhook", operation_id="stripeWebhook", status_code=200)
    async def webhook(
        self, request: Request, billing: BillingService, provider: BillingProvider
    ) -> dict[str, Any]:
        """Receive a Stripe event: signature checked on the raw body, idempotent by event id."""
        if provider.name != "stripe":
            # Not an error of the server: this endpoint exists only when Stripe is configured.
            raise NotFound("no Stripe webhook endpoint: Stripe billing is not configured")
        payload = await request.body()
        outcome = await billing.handle_webhook(payload, request.headers.get("stripe-signature"))
        return {"received": True, "duplicate": outcome.duplicate, "outcome": outcome.outcome}


class CheckoutReturnController(Controller):
    """Where Stripe Checkout sends the buyer back (``success_url`` and ``cancel_url``).

    Public: the pages show no order data. The grant itself comes from the signed webhook, never
    from a visit to these pages, so they only say what happens next.
    """

    path = "/v1/billing"
    tags = ["billing"]
    opt = PUBLIC

    @get("/success", operation_id="checkoutSuccessPage", media_type="text/html",
         sync_to_thread=False)
    def success(self) -> Response[str]:
        """Shown after paying on Stripe Checkout."""
        return _page(
            "Payment received",
            "Thank you. Your pack is added to your account as soon as the payment is confirmed "
            "(usually within a minute); then activate it with "
            "<code>POST /v1/packs/{pack_id}/activate</code>.",
        )

    @get("/cancel", operation_id="checkoutCancelPage", media_type="text/html",
         sync_to_thread=False)
    def cancel(self) -> Response[str]:
        """Shown when the buyer leaves Stripe Checkout without paying."""
        return _page("Purchase cancelled", "No payment was taken. You can start again any time.")


def _page(title: str, message_html: str) -> Response[str]:
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{message_html}</p></body></html>"
    )
    return Response(body, media_type="text/html")


class LocalCheckoutController(Controller):
    path = "/v1/billing/local"
    tags = ["billing"]
    opt = PUBLIC  # the session id in the URL is the capability, as with Stripe Checkout

    @get("/checkout/{session_id:str}", operation_id="localCheckoutPage", media_type="text/html")
    async def page(self, services: AppServices, session_id: str) -> Response[str]:
        """An HTML page with a form that confirms the purchase (test mode)."""
        order = await _local_order(services, session_id)
        pack = html.escape(order["pack_name"])
        amount = f"{order['amount'] / 100:.2f} {order['currency'].upper()}"
        body = f"""<!doctype html><html><head><title>PackDesk test checkout</title></head>
<body><p><strong>{TEST_MODE_BANNER}</strong></p>
<h1>Buy {pack}</h1><p>Price: {html.escape(amount)} ({html.escape(order["pricing_model"])})</p>
<form method="post" action="/v1/billing/local/checkout/{html.escape(session_id)}">
<button type="submit">Confirm test purchase</button></form></body></html>"""
        return Response(body, media_type="text/html")

    @post("/checkout/{session_id:str}", operation_id="localCheckoutConfirm", status_code=303)
    async def confirm(self, services: AppServices, session_id: str) -> Redirect:
        """Confirm the purchase: grants through the same fulfilment function as Stripe."""
        await _local_order(services, session_id)
        await services.billing.confirm_checkout(session_id)
        return Redirect(f"/v1/billing/local/success/{session_id}", status_code=303)

    @get("/success/{session_id:str}", operation_id="localCheckoutSuccess", media_type="text/html")
    async def success(self, services: AppServices, session_id: str) -> Response[str]:
        """Shown after a confirmed test purchase."""
        order = await _local_order(services, session_id)
        pack = html.escape(order["pack_name"])
        body = f"""<!doctype html><html><head><title>Purchase complete</title></head>
<body><p><strong>{TEST_MODE_BANNER}</strong></p><h1>You now own {pack}</h1>
<p>Activate it with <code>POST /v1/packs/{html.escape(order["pack_id"])}/activate</code>.</p>
</body></html>"""
        return Response(body, media_type="text/html")


async def _local_order(services: AppServices, session_id: str) -> dict[str, Any]:
    """The order behind a local checkout session; 404 unless the local provider is in use."""
    if services.provider.name != "local":
        raise NotFound("local checkout is disabled: a real billing provider is configured")
    order = await services.billing.get_order(session_id)
    if order["provider"] != "local":
        raise NotFound(f"no local checkout session {session_id!r}")
    manifest = services.packs.get(order["pack_id"])
    order["pack_name"] = manifest.name if manifest else order["pack_id"]
    return order
