"""The :class:`BillingProvider` role: turns a purchase intent into a checkout and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


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


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    checkout_url: str


@runtime_checkable
class BillingProvider(Protocol):
    """A payment provider adapter (Stripe, local test-mode)."""

    name: str

    async def sync_price(self, *, pack_id: str, version: str, name: str, pricing: Any) -> None:
        """Create or update the provider-side product/price for an approved pack version."""
        ...

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...
