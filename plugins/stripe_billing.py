"""Stripe billing provider: the official ``stripe`` SDK (v16, ``StripeClient``).

Creates a Product and a Price per approved pack version (price lookup key
``packdesk:<pack_id>:<version>``), maps accounts to Stripe Customers, opens Checkout Sessions
(``mode=payment`` for one-time packs, ``mode=subscription`` for monthly ones) and turns verified
webhook events into ledger effects. It never touches the ledger: the billing service passes in
what it knows (the stored customer) and applies what comes back. Registered only when
``PACKDESK_STRIPE_API_KEY`` is set.

Publishers are paid with Stripe Connect (docs/billing.md): an Express connected account per
publisher, onboarded through an Account Link; a third-party pack's checkout is a *destination
charge* (``transfer_data.destination`` and the platform's ``application_fee_amount``, or
``application_fee_percent`` for every invoice of a subscription); money that goes back reverses
the transfer in proportion (``refund_application_fee``). The request bodies are built by the
``*_params`` functions below, typed with the SDK's own ``TypedDict`` params.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core import (
    BillingEvent,
    CheckoutRequest,
    CheckoutSession,
    DisputeClosed,
    EntitlementSummary,
    Grant,
    Ignored,
    InvoicePaid,
    PaymentAwaited,
    PaymentFailed,
    PaymentRefunded,
    PayoutAccountUpdated,
    SubscriptionChanged,
    SubscriptionEnded,
    hookimpl,
    period_end,
    price_lookup_key,
)
from core.errors import BillingProviderUnavailable, ConfigError, WebhookSignatureError
from core.settings import Settings

if TYPE_CHECKING:  # the SDK's request shapes, for mypy; stripe itself is imported where used
    from stripe.params import (
        AccountCreateParams,
        AccountLinkCreateParams,
        PriceCreateParams,
        TransferReversalCreateParams,
    )
    from stripe.params.checkout import SessionCreateParams

FEATURE_PREFIX = "packdesk-pack-"  # Stripe Entitlements feature lookup key -> pack id
WEBHOOK_TOLERANCE_S = 300


def product_id_for(pack_id: str) -> str:
    return f"packdesk_{pack_id}"


class StripeBilling:
    """The Stripe adapter: prices, customers, checkouts, and webhooks parsed into events."""

    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        import stripe

        if settings.stripe_api_key is None:
            raise ConfigError("the stripe provider needs PACKDESK_STRIPE_API_KEY")
        api_key = settings.stripe_api_key.get_secret_value()
        self.test_mode = api_key.startswith("sk_test_")
        self._settings = settings
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
            max_network_retries=2,
        )

    # --- catalog -----------------------------------------------------------------------------
    async def sync_price(self, *, pack_id: str, version: str, name: str, pricing: Any) -> str:
        """Ensure the Product (id ``packdesk_<pack_id>``) and this version's Price exist.

        Returns:
            the Stripe price id.
        Raises:
            BillingProviderUnavailable: Stripe refused or could not be reached.
        """
        import stripe

        lookup_key = price_lookup_key(pack_id, version)
        product_id = product_id_for(pack_id)
        try:
            existing = await self.client.v1.prices.list_async(
                params={"lookup_keys": [lookup_key], "active": True, "limit": 1}
            )
            if existing.data:
                return existing.data[0].id
            try:
                await self.client.v1.products.retrieve_async(product_id)
                await self.client.v1.products.update_async(product_id, params={"name": name})
            except stripe.InvalidRequestError:
                await self.client.v1.products.create_async(
                    params={"id": product_id, "name": name, "metadata": {"pack_id": pack_id}}
                )
            params: PriceCreateParams = {
                "product": product_id,
                "unit_amount": pricing.amount,
                "currency": pricing.currency,
                "lookup_key": lookup_key,
                "transfer_lookup_key": True,
                "metadata": {"pack_id": pack_id, "version": version},
            }
            if pricing.model == "monthly":
                params["recurring"] = {"interval": "month"}
            price = await self.client.v1.prices.create_async(
                params=params, options={"idempotency_key": f"packdesk-price-{lookup_key}"}
            )
            return price.id
        except stripe.StripeError as exc:
            raise BillingProviderUnavailable(
                f"Stripe refused syncing the price of {pack_id} {version}: "
                f"{exc.user_message or exc}"
            ) from exc

    async def create_customer(self, account_id: str) -> str:
        """Create the account's Stripe Customer; returns its id.

        Raises:
            BillingProviderUnavailable: Stripe refused or could not be reached.
        """
        import stripe

        try:
            customer = await self.client.v1.customers.create_async(
                params={"metadata": {"account_id": account_id}},
                # Two concurrent first checkouts create one Customer, not two.
                options={"idempotency_key": f"packdesk-customer-{account_id}"},
            )
        except stripe.StripeError as exc:
            raise BillingProviderUnavailable(
                f"Stripe refused creating a customer: {exc.user_message or exc}"
            ) from exc
        return str(customer.id)

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open a Stripe Checkout Session for the pack's price."""
        import stripe

        if not request.price_ref:
            raise ConfigError(f"pack {request.pack_id} {request.pack_version} has no Stripe price")
        # The service passes the Customer it stored for the account; the first checkout of an
        # account creates one, which the service stores from the returned session.
        customer = request.customer_ref or await self.create_customer(request.account_id)
        params = checkout_params(request, customer)
        try:
            session = await self.client.v1.checkout.sessions.create_async(params=params)
        except stripe.StripeError as exc:
            raise BillingProviderUnavailable(
                f"Stripe refused the checkout for {request.pack_id}: {exc.user_message or exc}"
            ) from exc
        return CheckoutSession(
            session_id=session.id,
            checkout_url=session.url or "",
            test_mode=self.test_mode,
            customer_ref=customer,
        )

    # --- Connect: publishers' accounts and transfers -------------------------------------------
    async def create_connected_account(self, *, account_id: str, name: str) -> str:
        """Create the publisher's Express account (one per publisher: idempotency key).

        Raises:
            BillingProviderUnavailable: Stripe refused or could not be reached.
        """
        import stripe

        try:
            account = await self.client.v1.accounts.create_async(
                params=account_params(account_id, name),
                options={"idempotency_key": f"packdesk-connect-{account_id}"},
            )
        except stripe.StripeError as exc:
            raise BillingProviderUnavailable(
                f"Stripe refused creating the connected account: {exc.user_message or exc}"
            ) from exc
        return str(account.id)

    async def create_onboarding_link(
        self, *, account_ref: str, refresh_url: str, return_url: str
    ) -> str:
        """An Account Link (``account_onboarding``) for the publisher's Express account."""
        import stripe

        try:
            link = await self.client.v1.account_links.create_async(
                params=account_link_params(account_ref, refresh_url, return_url)
            )
        except stripe.StripeError as exc:
            raise BillingProviderUnavailable(
                f"Stripe refused the onboarding link: {exc.user_message or exc}"
            ) from exc
        return str(link.url)

    async def reverse_transfer(
        self,
        *,
        charge_ref: str | None,
        transfer_ref: str | None,
        target_reversed: int,
        idempotency_key: str,
    ) -> str | None:
        """Reverse the charge's transfer up to ``target_reversed`` in total, refunding the
        platform fee in proportion; only what the transfer still lacks is reversed (a refund
        made with ``reverse_transfer`` in the Dashboard has done it already)."""
        import stripe

        try:
            if transfer_ref is None and charge_ref is not None:
                charge = await self.client.v1.charges.retrieve_async(charge_ref)
                transfer_ref = _ref(getattr(charge, "transfer", None))
            if transfer_ref is None:
                return None  # not a destination charge: nothing was transferred
            transfer = await self.client.v1.transfers.retrieve_async(transfer_ref)
            missing = min(target_reversed, transfer.amount) - transfer.amount_reversed
            if missing <= 0:
                return None
            reversal = await self.client.v1.transfers.reversals.create_async(
                transfer_ref,
                params=reversal_params(missing, target_reversed),
                # The same reversal asked again is the same request; another amount is not.
                options={"idempotency_key": f"{idempotency_key}-{target_reversed}-{missing}"},
            )
        except stripe.StripeError as exc:
            raise BillingProviderUnavailable(
                f"Stripe refused reversing transfer {transfer_ref or charge_ref}: "
                f"{exc.user_message or exc}"
            ) from exc
        return str(reversal.id)

    # --- webhooks ----------------------------------------------------------------------------
    def parse_webhook(self, payload: bytes, signature_header: str | None) -> BillingEvent:
        """Verify the ``Stripe-Signature`` header on the raw body and translate the event.

        Raises:
            WebhookSignatureError: missing, malformed, wrong-secret, tampered or stale signature,
                or a body that is not a Stripe event.
            ConfigError: no webhook secret is configured.
        """
        import stripe

        secret = self._settings.stripe_webhook_secret
        if secret is None:
            raise ConfigError("PACKDESK_STRIPE_WEBHOOK_SECRET is not set; webhooks are refused")
        if not signature_header:
            raise WebhookSignatureError("missing Stripe-Signature header")
        # The platform endpoint's secret, then the Connect endpoint's (connected accounts'
        # events, such as account.updated, come through an endpoint of their own).
        secrets = [secret.get_secret_value()]
        connect = self._settings.stripe_connect_webhook_secret
        if connect is not None and connect.get_secret_value():
            secrets.append(connect.get_secret_value())
        for number, candidate in enumerate(secrets, start=1):
            try:
                self.client.construct_event(
                    payload, signature_header, candidate, WEBHOOK_TOLERANCE_S
                )
                break
            except stripe.SignatureVerificationError as exc:
                if number == len(secrets):
                    raise WebhookSignatureError(
                        f"Stripe signature rejected: {exc.user_message or exc}"
                    ) from exc
            except ValueError as exc:  # signed, but not JSON
                raise WebhookSignatureError(f"webhook body is not a JSON event: {exc}") from exc
        event = json.loads(payload)
        if not isinstance(event, dict) or "id" not in event or "type" not in event:
            raise WebhookSignatureError("webhook body is not a Stripe event (no id or type)")
        return BillingEvent(
            event_id=str(event["id"]),
            event_type=str(event["type"]),
            provider=self.name,
            effect=translate_event(event),
            raw=event,
        )


def checkout_params(request: CheckoutRequest, customer: str) -> SessionCreateParams:
    """The Checkout Session of a purchase; a third-party pack's is a destination charge."""
    # The price rides along so the completed session can be checked against the stored
    # order (webhook events carry no line items).
    metadata = {
        **request.metadata,
        "account_id": request.account_id,
        "pack_id": request.pack_id,
        "version": request.pack_version,
        "price_id": request.price_ref or "",
        "price_lookup_key": price_lookup_key(request.pack_id, request.pack_version),
    }
    params: SessionCreateParams = {
        "mode": "subscription" if request.pricing_model == "monthly" else "payment",
        "customer": customer,
        "client_reference_id": request.account_id,
        "line_items": [{"price": request.price_ref or "", "quantity": 1}],
        "metadata": metadata,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
    }
    if request.pricing_model == "monthly":
        # Subscription events then carry the account and pack too.
        params["subscription_data"] = {"metadata": metadata}
        if request.destination_ref:
            # Every invoice moves the publisher's share; the fee is a percentage of each.
            params["subscription_data"]["transfer_data"] = {
                "destination": request.destination_ref
            }
            params["subscription_data"]["application_fee_percent"] = (request.fee_bps or 0) / 100
    else:
        params["payment_intent_data"] = {"metadata": metadata}
        if request.destination_ref:
            params["payment_intent_data"]["transfer_data"] = {
                "destination": request.destination_ref
            }
            params["payment_intent_data"]["application_fee_amount"] = request.application_fee or 0
    return params


def account_params(account_id: str, name: str) -> AccountCreateParams:
    """A publisher's Express account: it only receives transfers (destination charges are the
    platform's own charges, so it needs no card payments of its own)."""
    return {
        "type": "express",
        "capabilities": {"transfers": {"requested": True}},
        "business_profile": {"name": name[:100]},
        "metadata": {"account_id": account_id},
    }


def account_link_params(
    account_ref: str, refresh_url: str, return_url: str
) -> AccountLinkCreateParams:
    return {
        "account": account_ref,
        "type": "account_onboarding",
        "refresh_url": refresh_url,
        "return_url": return_url,
    }


def reversal_params(amount: int, target_reversed: int) -> TransferReversalCreateParams:
    return {
        "amount": amount,
        "refund_application_fee": True,
        "metadata": {"packdesk_target_reversed": str(target_reversed)},
    }


def translate_event(event: dict[str, Any]) -> Any:
    """Map one Stripe event (current API shape) to a ledger effect.

    What the service needs to apply events in any order rides along: the amount, currency and
    price of a completed session (compared with the stored order), the refunded charge, and
    the event's ``created`` time for subscription changes.
    """
    kind = event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    created = period_end(event.get("created"))
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if kind == "checkout.session.completed" and obj.get("payment_status") not in (
            "paid",
            "no_payment_required",
        ):
            return PaymentAwaited(
                order_ref=obj["id"],
                account_id=metadata.get("account_id"),
                pack_id=metadata.get("pack_id"),
            )
        account_id = metadata.get("account_id") or obj.get("client_reference_id")
        pack_id = metadata.get("pack_id")
        if not account_id or not pack_id:
            return Ignored("checkout session without packdesk metadata")
        return Grant(
            account_id=account_id,
            pack_id=pack_id,
            version=metadata.get("version"),
            source="subscription" if obj.get("mode") == "subscription" else "one_time",
            order_ref=obj["id"],
            payment_ref=_ref(obj.get("payment_intent")),
            subscription_ref=_ref(obj.get("subscription")),
            customer_ref=_ref(obj.get("customer")),
            amount=obj.get("amount_total"),
            currency=obj.get("currency"),
            price_ref=metadata.get("price_id") or None,
            price_lookup_key=metadata.get("price_lookup_key"),
            occurred_at=created,
        )
    if kind == "checkout.session.async_payment_failed":
        return PaymentFailed(order_ref=obj["id"])
    if kind == "charge.refunded":
        full = bool(obj.get("refunded")) or obj.get("amount_refunded", 0) >= obj.get("amount", 1)
        return PaymentRefunded(
            payment_ref=_ref(obj.get("payment_intent")),
            full=full,
            charge_ref=obj.get("id"),
            amount=_int(obj.get("amount")),
            amount_refunded=_int(obj.get("amount_refunded")),
            application_fee=_int(obj.get("application_fee_amount")),
            currency=obj.get("currency"),
            transfer_ref=_ref(obj.get("transfer")),
            destination_ref=_ref((obj.get("transfer_data") or {}).get("destination")),
            account_id=metadata.get("account_id"),
            pack_id=metadata.get("pack_id"),
            occurred_at=created,
        )
    if kind == "charge.dispute.closed":
        return DisputeClosed(
            dispute_ref=str(obj["id"]),
            status=str(obj.get("status")),
            amount=int(obj.get("amount") or 0),
            currency=str(obj.get("currency") or ""),
            charge_ref=_ref(obj.get("charge")),
            payment_ref=_ref(obj.get("payment_intent")),
            occurred_at=created,
        )
    if kind == "invoice.paid":
        return _invoice_paid(obj, created)
    if kind == "account.updated":
        return PayoutAccountUpdated(
            account_ref=str(obj["id"]),
            details_submitted=bool(obj.get("details_submitted")),
            charges_enabled=bool(obj.get("charges_enabled")),
            payouts_enabled=bool(obj.get("payouts_enabled")),
            changed_at=created,
        )
    if kind in ("customer.subscription.created", "customer.subscription.updated"):
        return SubscriptionChanged(
            subscription_ref=obj["id"],
            status=str(obj.get("status")),
            current_period_end=period_end(_subscription_period_end(obj)),
            account_id=metadata.get("account_id"),
            pack_id=metadata.get("pack_id"),
            customer_ref=_ref(obj.get("customer")),
            changed_at=created,
        )
    if kind == "customer.subscription.deleted":
        return SubscriptionEnded(subscription_ref=obj["id"], changed_at=created)
    if kind == "entitlements.active_entitlement_summary.updated":
        features = ((obj.get("entitlements") or {}).get("data")) or []
        pack_ids = frozenset(
            item["lookup_key"][len(FEATURE_PREFIX) :]
            for item in features
            if str(item.get("lookup_key", "")).startswith(FEATURE_PREFIX)
        )
        return EntitlementSummary(customer_ref=str(obj.get("customer")), pack_ids=pack_ids)
    return Ignored(f"event type {kind} is not used")


def _invoice_paid(invoice: dict[str, Any], created: Any) -> Any:
    """A paid subscription invoice: its subscription and metadata where the current API puts
    them (``parent.subscription_details``) or where older ones did."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = _ref(details.get("subscription")) or _ref(invoice.get("subscription"))
    metadata = details.get("metadata") or (invoice.get("subscription_details") or {}).get(
        "metadata"
    ) or {}
    if subscription is None:
        return Ignored("invoice of no subscription")
    payments = ((invoice.get("payments") or {}).get("data")) or []
    payment_ref = _ref(invoice.get("payment_intent")) or next(
        (
            _ref((item.get("payment") or {}).get("payment_intent"))
            for item in payments
            if (item.get("payment") or {}).get("payment_intent")
        ),
        None,
    )
    return InvoicePaid(
        invoice_ref=str(invoice["id"]),
        subscription_ref=subscription,
        amount_paid=int(invoice.get("amount_paid") or 0),
        currency=str(invoice.get("currency") or ""),
        application_fee=_int(invoice.get("application_fee_amount")),
        first=invoice.get("billing_reason") == "subscription_create",
        payment_ref=payment_ref,
        charge_ref=_ref(invoice.get("charge")),
        destination_ref=_ref((invoice.get("transfer_data") or {}).get("destination")),
        account_id=metadata.get("account_id"),
        pack_id=metadata.get("pack_id"),
        occurred_at=created,
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ref(value: Any) -> str | None:
    """An expandable Stripe field: an id string, an expanded object, or null."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _subscription_period_end(subscription: dict[str, Any]) -> int | None:
    # Since API 2025-03-31 the period lives on each subscription item; older shapes (and
    # localstripe) keep it on the subscription.
    items = ((subscription.get("items") or {}).get("data")) or []
    ends = [item.get("current_period_end") for item in items if item.get("current_period_end")]
    return max(ends) if ends else subscription.get("current_period_end")


@hookimpl
def packdesk_billing_providers(settings: Settings) -> list[Any]:
    """Stripe, when ``PACKDESK_STRIPE_API_KEY`` is set."""
    if settings.stripe_api_key is None or not settings.stripe_api_key.get_secret_value():
        return []
    return [StripeBilling(settings)]
