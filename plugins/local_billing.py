"""Local billing provider: TEST MODE checkout on this machine, no payment service involved.

Only when chosen explicitly (``PACKDESK_BILLING_PROVIDER=local``; ``packdesk run`` chooses it,
loudly, on an unconfigured machine). A checkout is a page of the PackDesk server
(``/v1/billing/local/checkout/<session_id>``); confirming it yields the event that the billing
service applies through the same fulfilment path Stripe webhooks use. Anyone can confirm a
purchase without paying, so it is never a fallback, and it is refused when a Stripe key is
configured: a production install cannot hand out packs for free by accident.
"""

from __future__ import annotations

import secrets
from typing import Any

from core import BillingEvent, CheckoutRequest, CheckoutSession, Grant, hookimpl, price_lookup_key
from core.errors import ConfigError
from core.settings import Settings

TEST_MODE_LABEL = "TEST MODE - local billing, no real payment is taken"


class LocalBilling:
    """Test-mode provider: every checkout is labelled test mode and completed on this server."""

    name = "local"
    test_mode = True
    label = TEST_MODE_LABEL

    def __init__(self, settings: Settings) -> None:
        if settings.billing_provider != "local":
            raise ConfigError(
                "the local (test-mode) billing provider runs only when chosen: "
                f"PACKDESK_BILLING_PROVIDER=local (it is {settings.billing_provider!r})"
            )
        if settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value():
            raise ConfigError(
                "the local (test-mode) billing provider is refused while "
                "PACKDESK_STRIPE_API_KEY is set; use the stripe provider"
            )
        self._base_url = settings.public_base_url.rstrip("/")

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

    def confirm_checkout(
        self, *, session_id: str, account_id: str, pack_id: str, version: str | None
    ) -> BillingEvent:
        """The confirmed test purchase as a grant; its event id is fixed per session, so
        confirming twice (or concurrently) grants once."""
        return BillingEvent(
            event_id=f"{self.name}:{session_id}:paid",
            event_type="checkout.confirmed",
            provider=self.name,
            effect=Grant(
                account_id=account_id,
                pack_id=pack_id,
                version=version,
                source=self.name,
                order_ref=session_id,
            ),
        )


@hookimpl
def packdesk_billing_providers(settings: Settings) -> list[Any]:
    """The local test-mode provider, only when chosen and no Stripe key is configured."""
    if settings.billing_provider != "local":
        return []
    if settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value():
        return []
    return [LocalBilling(settings)]
