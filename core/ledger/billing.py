"""The :class:`BillingProvider` role: turns a purchase intent into a checkout and back.

A provider talks to a payment service; it never writes the ledger itself. What it learns
(a verified webhook, a confirmed local checkout) it hands to the :class:`BillingService` it is
attached to, as a :class:`BillingEvent`, and the service applies it in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.errors import ConfigError

if TYPE_CHECKING:
    pass


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


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    checkout_url: str
    test_mode: bool = False


# --- what a provider reports (applied by BillingService.apply) --------------------------------
@dataclass(frozen=True)
class Grant:
    """A purchase is paid: the account owns the pack."""

    account_id: str
    pack_id: str
    version: str | None
    source: str  # one_time | subscription | local
    order_ref: str | None = None  # checkout session id
    payment_ref: str | None = None  # payment intent id
    subscription_ref: str | None = None
    customer_ref: str | None = None
    current_period_end: datetime | None = None


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
    payment_ref: str
    full: bool


@dataclass(frozen=True)
class SubscriptionChanged:
    subscription_ref: str
    status: str  # the provider's status (active, trialing, past_due, canceled, ...)
    current_period_end: datetime | None
    account_id: str | None = None  # from subscription metadata, when present
    pack_id: str | None = None
    customer_ref: str | None = None


@dataclass(frozen=True)
class SubscriptionEnded:
    subscription_ref: str


@dataclass(frozen=True)
class EntitlementSummary:
    """The provider's full list of a customer's active entitlements (pack ids)."""

    customer_ref: str
    pack_ids: frozenset[str]


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

    Optional capabilities: ``attach(service)`` (called by :class:`BillingService` so the
    provider can hand events back), ``handle_webhook(payload, signature_header)``,
    ``parse_webhook(...) -> BillingEvent`` and ``confirm(session_id)``.
    """

    name: str
    test_mode: bool

    async def sync_price(
        self, *, pack_id: str, version: str, name: str, pricing: Any
    ) -> str | None:
        """Create or update the provider-side product/price; returns the provider's price id."""
        ...

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...


def price_lookup_key(pack_id: str, version: str) -> str:
    """The lookup key of a pack version's price at every provider."""
    return f"packdesk:{pack_id}:{version}"


def period_end(timestamp: int | None) -> datetime | None:
    """A provider's epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(int(timestamp), UTC) if timestamp else None


def choose_billing_provider(providers: list[BillingProvider]) -> BillingProvider:
    """Pick the provider to use: Stripe when configured, else the local test-mode provider.

    Raises:
        ConfigError: no provider is available.
    """
    by_name = {provider.name: provider for provider in providers}
    for name in ("stripe", "local"):
        if name in by_name:
            return by_name[name]
    if providers:
        return providers[0]
    raise ConfigError("no billing provider is available; is the local_billing plugin installed?")
