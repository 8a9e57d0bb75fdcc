"""Local billing provider: TEST MODE checkout on this machine, no payment service involved.

The embedded default when no Stripe key is set. A checkout is a page of the PackDesk server
(``/v1/billing/local/checkout/<session_id>``); confirming it grants the entitlement through the
same fulfilment function Stripe webhooks use. Refused when a Stripe key is configured, so a
production install cannot hand out packs for free by accident.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from core import CheckoutRequest, CheckoutSession, hookimpl, price_lookup_key
from core.errors import ConfigError
from core.settings import Settings

if TYPE_CHECKING:
    from core.ledger.fulfilment import BillingOutcome, BillingService

TEST_MODE_LABEL = "TEST MODE - local billing, no real payment is taken"


class LocalBilling:
    """Test-mode provider: every checkout is labelled test mode; confirm() completes it."""

    name = "local"
    test_mode = True
    label = TEST_MODE_LABEL

    def __init__(self, settings: Settings) -> None:
        if settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value():
            raise ConfigError(
                "the local (test-mode) billing provider is refused while "
                "PACKDESK_STRIPE_API_KEY is set; use the stripe provider"
            )
        self._base_url = settings.public_base_url.rstrip("/")
        self._service: BillingService | None = None

    def attach(self, service: BillingService) -> None:
        self._service = service

    async def sync_price(self, *, pack_id: str, version: str, name: str, pricing: Any) -> str:
        """Nothing to create remotely; the local price id is the lookup key."""
        return f"local:{price_lookup_key(pack_id, version)}"

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        session_id = f"lcs_test_{secrets.token_urlsafe(18)}"
        return CheckoutSession(
            session_id=session_id,
            checkout_url=f"{self._base_url}/v1/billing/local/checkout/{session_id}",
            test_mode=True,
        )

    async def confirm(self, session_id: str) -> BillingOutcome:
        """Complete a local checkout: grant through the one fulfilment function.

        Raises:
            NotFound: unknown session. Conflict: a failed or refunded session.
        """
        if self._service is None:
            raise ConfigError("LocalBilling is not attached to a BillingService")
        return await self._service.confirm_order(session_id, provider_name=self.name)

    def success_url(self, session_id: str) -> str:
        return f"{self._base_url}/v1/billing/success?session_id={session_id}"


@hookimpl
def packdesk_billing_providers(settings: Settings) -> list[Any]:
    """The local test-mode provider, only when no Stripe key is configured."""
    if settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value():
        return []
    return [LocalBilling(settings)]
