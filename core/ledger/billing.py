"""The :class:`BillingProvider` role: turns a purchase intent into a checkout and back.

A provider talks to a payment service and translates; it never reads or writes the ledger and
knows nothing of the service that uses it. What it learns (a verified webhook, a confirmed local
checkout) it returns as a :class:`BillingEvent`; :class:`~core.ledger.fulfilment.BillingService`
asks for it and applies it in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from core.errors import ConfigError
from core.settings import Settings

logger = logging.getLogger("packdesk.billing")

TEST_MODE_WARNING = "TEST MODE billing: anyone can confirm purchases without paying"


@dataclass(frozen=True)
class CheckoutRequest:
    account_id: str
    pack_id: str
    pack_version: str
    pack_name: str
    pricing_model: str  # "one_time" | "monthly"
    amount: int  # minor units
    currency: str
    success_url: str
    cancel_url: str
    metadata: dict[str, str] = field(default_factory=dict)
    price_ref: str | None = None  # the provider's price id, when synced
    customer_ref: str | None = None  # the provider's customer id stored for the account, if any
    # A third-party pack (destination charge): the publisher's connected account receives the
    # payment less the platform fee: ``application_fee`` (minor units) for a one-time price,
    # ``fee_bps`` (basis points of every invoice) for a subscription.
    destination_ref: str | None = None
    application_fee: int | None = None
    fee_bps: int | None = None


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    checkout_url: str
    test_mode: bool = False
    # The provider's customer the checkout is for (created when the request had none); the
    # service stores it for the account.
    customer_ref: str | None = None


# --- what a provider reports (applied by BillingService.apply) --------------------------------
@dataclass(frozen=True)
class Grant:
    """A purchase is paid: the account owns the pack.

    With an ``order_ref`` the service grants only when the stored order matches: account,
    pack, version, and each of ``amount``, ``currency``, ``price_ref`` and
    ``price_lookup_key`` the provider reports (None: not reported, not compared).
    """

    account_id: str
    pack_id: str
    version: str | None
    source: str  # one_time | subscription | local
    order_ref: str | None = None  # checkout session id
    payment_ref: str | None = None  # payment intent id
    subscription_ref: str | None = None
    customer_ref: str | None = None
    current_period_end: datetime | None = None
    amount: int | None = None  # minor units actually charged
    currency: str | None = None
    price_ref: str | None = None  # the provider's price id
    price_lookup_key: str | None = None
    transfer_ref: str | None = None  # the transfer of the publisher's share, when known
    occurred_at: datetime | None = None  # the provider's event time


@dataclass(frozen=True)
class PaymentFailed:
    order_ref: str


@dataclass(frozen=True)
class PaymentAwaited:
    """Checkout finished but the money has not arrived yet (async payment methods)."""

    order_ref: str
    account_id: str | None = None
    pack_id: str | None = None


@dataclass(frozen=True)
class PaymentRefunded:
    """A refund of a payment. Full refunds leave tombstones: no later grant may use it."""

    payment_ref: str | None
    full: bool
    charge_ref: str | None = None
    # What the earnings ledger needs to reverse the publisher's share proportionally, from the
    # charge itself: its amount, the cumulative refunded amount, the platform fee, the
    # transfer, and the account and pack its payment was for (payment metadata).
    amount: int | None = None
    amount_refunded: int | None = None
    application_fee: int | None = None
    currency: str | None = None
    transfer_ref: str | None = None
    destination_ref: str | None = None
    account_id: str | None = None
    pack_id: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class SubscriptionChanged:
    """A subscription's state as of ``changed_at`` (the provider's event time): changes older
    than the newest one applied are stale and ignored."""

    subscription_ref: str
    status: str  # the provider's status (active, trialing, past_due, canceled, ...)
    current_period_end: datetime | None
    account_id: str | None = None  # from subscription metadata, when present
    pack_id: str | None = None
    customer_ref: str | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class SubscriptionEnded:
    """The subscription is over for good: its entitlements end, no later event revives it."""

    subscription_ref: str
    changed_at: datetime | None = None


@dataclass(frozen=True)
class EntitlementSummary:
    """The provider's full list of a customer's active entitlements (pack ids)."""

    customer_ref: str
    pack_ids: frozenset[str]


@dataclass(frozen=True)
class InvoicePaid:
    """A subscription invoice was paid (the first one or a renewal): the publisher's share of
    it was transferred with the payment (destination charge)."""

    invoice_ref: str
    subscription_ref: str | None
    amount_paid: int
    currency: str
    application_fee: int | None = None
    first: bool = False  # billing_reason subscription_create: the sale; else a renewal
    payment_ref: str | None = None
    charge_ref: str | None = None
    transfer_ref: str | None = None
    destination_ref: str | None = None
    account_id: str | None = None  # subscription metadata, when present
    pack_id: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class DisputeClosed:
    """A dispute is over. Lost: the disputed amount went back to the customer, so the
    publisher's share of it is reversed and a full loss ends the purchase like a full refund.
    Won: nothing was taken, so nothing is restored."""

    dispute_ref: str
    status: str  # won | lost | warning_closed | ...
    amount: int
    currency: str
    charge_ref: str | None = None
    payment_ref: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class PayoutAccountUpdated:
    """What the provider says about a publisher's connected account (``account.updated``)."""

    account_ref: str
    details_submitted: bool
    charges_enabled: bool
    payouts_enabled: bool
    changed_at: datetime | None = None


@dataclass(frozen=True)
class Ignored:
    reason: str


Effect = (
    Grant
    | PaymentFailed
    | PaymentAwaited
    | PaymentRefunded
    | SubscriptionChanged
    | SubscriptionEnded
    | EntitlementSummary
    | InvoicePaid
    | DisputeClosed
    | PayoutAccountUpdated
    | Ignored
)


@dataclass(frozen=True)
class BillingEvent:
    """One provider event: its unique id (idempotency key), type and effect on the ledger."""

    event_id: str
    event_type: str
    provider: str
    effect: Effect
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@runtime_checkable
class BillingProvider(Protocol):
    """A payment provider adapter (Stripe, local test-mode).

    Every provider syncs prices and opens checkouts. How a purchase then comes back is a
    capability of its own, checked by the service with ``isinstance``: :class:`WebhookReceiver`
    (the payment service calls us, as Stripe does) or :class:`CheckoutConfirmer` (the checkout
    is completed on this server, as in local test mode).
    """

    name: str
    test_mode: bool

    async def sync_price(
        self, *, pack_id: str, version: str, name: str, pricing: Any
    ) -> str | None:
        """Create or update the provider-side product/price; returns the provider's price id."""
        ...

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...


@runtime_checkable
class WebhookReceiver(Protocol):
    """A provider that is told about payments by webhook deliveries."""

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> BillingEvent:
        """Verify one delivery (raw body and signature header) and translate it.

        Raises:
            WebhookSignatureError: the delivery is not authentic; nothing may be applied.
            ConfigError: the provider is not configured to take webhooks.
        """
        ...


@runtime_checkable
class CheckoutConfirmer(Protocol):
    """A provider whose checkouts are completed on this server (no payment service involved)."""

    def confirm_checkout(
        self, *, session_id: str, account_id: str, pack_id: str, version: str | None
    ) -> BillingEvent:
        """The event that completes the stored checkout ``session_id`` (one id per session)."""
        ...


@runtime_checkable
class PayoutProvider(Protocol):
    """A provider that pays publishers: connected accounts, onboarding links, transfer reversals
    (Stripe Connect; the local provider simulates them in TEST MODE)."""

    async def create_connected_account(self, *, account_id: str, name: str) -> str:
        """Create the publisher's connected account (idempotent per ``account_id``); its id."""
        ...

    async def create_onboarding_link(
        self, *, account_ref: str, refresh_url: str, return_url: str
    ) -> str:
        """A single-use URL where the publisher completes onboarding."""
        ...

    async def reverse_transfer(
        self,
        *,
        charge_ref: str | None,
        transfer_ref: str | None,
        target_reversed: int,
        idempotency_key: str,
    ) -> str | None:
        """Make the publisher transfer of a charge reversed by ``target_reversed`` in total
        (minor units of the charge; the platform fee is refunded in proportion). Only the
        missing part is reversed, so repeating a call is harmless. Returns the reversal id, or
        None when nothing was missing.

        Raises:
            BillingProviderUnavailable: the provider refused or could not be reached.
        """
        ...


def price_lookup_key(pack_id: str, version: str) -> str:
    """The lookup key of a pack version's price at every provider."""
    return f"packdesk:{pack_id}:{version}"


def period_end(timestamp: int | None) -> datetime | None:
    """A provider's epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(int(timestamp), UTC) if timestamp else None


def stripe_key_configured(settings: Settings) -> bool:
    return settings.stripe_api_key is not None and bool(settings.stripe_api_key.get_secret_value())


def choose_billing_provider(
    settings: Settings, providers: list[BillingProvider]
) -> BillingProvider:
    """The provider ``settings.billing_provider`` names, checked; logged at startup.

    ``stripe`` needs the Stripe key and webhook secret; ``local`` (TEST MODE: anyone can confirm
    a purchase without paying) is used only when named, never as a fallback, so a missing or
    misspelt Stripe setting cannot give packs away. Unset: stripe when a Stripe key is set.

    Raises:
        ConfigError: no provider named and no Stripe key, a named provider's settings are
            incomplete or contradict it, or no plugin offers it.
    """
    name = settings.billing_provider
    keyed = stripe_key_configured(settings)
    if name is None:
        if not keyed:
            raise ConfigError(
                "no billing provider is configured: set PACKDESK_BILLING_PROVIDER=stripe (with "
                "PACKDESK_STRIPE_API_KEY and PACKDESK_STRIPE_WEBHOOK_SECRET) for real payments, "
                "or PACKDESK_BILLING_PROVIDER=local for TEST MODE, where anyone can confirm a "
                "purchase without paying"
            )
        name = "stripe"
    if name == "stripe":
        if not keyed:
            raise ConfigError("PACKDESK_BILLING_PROVIDER=stripe needs PACKDESK_STRIPE_API_KEY")
        secret = settings.stripe_webhook_secret
        if secret is None or not secret.get_secret_value():
            raise ConfigError(
                "the stripe billing provider needs PACKDESK_STRIPE_WEBHOOK_SECRET (whsec_...): "
                "without it no payment could ever be fulfilled"
            )
    elif keyed:
        raise ConfigError(
            "PACKDESK_BILLING_PROVIDER=local (TEST MODE) is refused while "
            "PACKDESK_STRIPE_API_KEY is set; choose stripe, or unset the key"
        )
    by_name = {provider.name: provider for provider in providers}
    provider = by_name.get(name)
    if provider is None:
        raise ConfigError(
            f"billing provider {name!r} is configured but no plugin offers it "
            f"(offered: {sorted(by_name) or 'none'}); is its plugin installed?"
        )
    if provider.test_mode and name == "local":
        logger.warning("billing provider: local. %s", TEST_MODE_WARNING)
    else:
        mode = "test mode" if provider.test_mode else "live mode"
        logger.info("billing provider: %s (%s)", provider.name, mode)
    return provider
