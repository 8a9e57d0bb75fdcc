"""Local billing provider: TEST MODE checkout on this machine, no payment service involved.

Only when chosen explicitly (``PACKDESK_BILLING_PROVIDER=local``; ``packdesk run`` chooses it,
loudly, on an unconfigured machine). A checkout is a page of the PackDesk server
(``/v1/billing/local/checkout/<session_id>``); confirming it yields the event that the billing
service applies through the same fulfilment path Stripe webhooks use. Anyone can confirm a
purchase without paying, so it is never a fallback, and it is refused when a Stripe key is
configured: a production install cannot hand out packs for free by accident.

It simulates Stripe Connect too, in TEST MODE: a publisher's connected account is
``acct_test_local_...``, its onboarding link is a page of this server
(``/v1/billing/local/onboarding/<account>``) whose form completes it, the publisher's share of
a sale is a simulated transfer recorded in the earnings ledger, and an operator's refund of a
test order reverses it (``POST /v1/admin/orders/<session_id>/refund``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from core import (
    BillingEvent,
    CheckoutRequest,
    CheckoutSession,
    Grant,
    PaymentRefunded,
    PayoutAccountUpdated,
    hookimpl,
    price_lookup_key,
)
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
                payment_ref=local_payment_ref(session_id),
                # The simulated transfer of a third-party pack's share (recorded only when
                # the order names a destination).
                transfer_ref=f"tr_test_local_{session_id}",
                occurred_at=datetime.now(UTC),
            ),
        )

    def refund_checkout(self, *, order: dict[str, Any]) -> BillingEvent:
        """A full refund of a paid test order, as Stripe's ``charge.refunded`` would report it;
        one event id per order, so refunding twice refunds once."""
        session_id = order["session_id"]
        amount = int(order["amount"])
        destination = order.get("destination_ref")
        return BillingEvent(
            event_id=f"{self.name}:{session_id}:refunded",
            event_type="charge.refunded",
            provider=self.name,
            effect=PaymentRefunded(
                payment_ref=order.get("payment_ref") or local_payment_ref(session_id),
                full=True,
                charge_ref=f"ch_test_local_{session_id}",
                amount=amount,
                amount_refunded=amount,
                application_fee=order.get("application_fee") or 0,
                currency=order["currency"],
                transfer_ref=f"tr_test_local_{session_id}" if destination else None,
                destination_ref=destination,
                account_id=order["account_id"],
                pack_id=order["pack_id"],
                occurred_at=datetime.now(UTC),
            ),
        )

    # --- simulated Connect ----------------------------------------------------------------------
    async def create_connected_account(self, *, account_id: str, name: str) -> str:
        return f"acct_test_local_{secrets.token_hex(12)}"

    async def create_onboarding_link(
        self, *, account_ref: str, refresh_url: str, return_url: str
    ) -> str:
        return f"{self._base_url}/v1/billing/local/onboarding/{account_ref}"

    def complete_onboarding(self, *, account_ref: str) -> BillingEvent:
        """The simulated ``account.updated`` of a completed onboarding (one per account)."""
        return BillingEvent(
            event_id=f"{self.name}:{account_ref}:onboarded",
            event_type="account.updated",
            provider=self.name,
            effect=PayoutAccountUpdated(
                account_ref=account_ref,
                details_submitted=True,
                charges_enabled=True,
                payouts_enabled=True,
                changed_at=datetime.now(UTC),
            ),
        )

    async def reverse_transfer(
        self,
        *,
        charge_ref: str | None,
        transfer_ref: str | None,
        target_reversed: int,
        idempotency_key: str,
    ) -> str | None:
        """Simulated: the ledger's row is the reversal; its id names what it reversed."""
        if transfer_ref is None:
            return None
        return f"trr_test_local_{transfer_ref.removeprefix('tr_test_local_')}_{target_reversed}"


def local_payment_ref(session_id: str) -> str:
    """The simulated payment of a local checkout session."""
    return f"pi_test_local_{session_id}"


@hookimpl
def packdesk_billing_providers(settings: Settings) -> list[Any]:
    """The local test-mode provider, only when chosen and no Stripe key is configured."""
    if settings.billing_provider != "local":
        return []
    if settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value():
        return []
    return [LocalBilling(settings)]
