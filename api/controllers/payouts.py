"""Publisher revenue routes: payout onboarding and status, earnings statements, the platform
fee, and the local provider's TEST MODE onboarding page and refunds."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime

from litestar import Controller, Response, get, post, put
from litestar.params import Parameter
from litestar.response import Redirect

from api.auth import PUBLIC, AdminRoutes, PublisherRoutes
from api.schemas import (
    FeeOut,
    FeeRequest,
    LocalRefundOut,
    OnboardingOut,
    PayoutStatusOut,
    StatementOut,
)
from core.errors import NotFound
from core.ledger.accounts import Principal
from core.ledger.billing import BillingProvider
from core.ledger.fulfilment import BillingService
from core.ledger.payouts import FeeSetting, PayoutService
from core.ledger.statements import EarningsService

TEST_MODE_BANNER = "TEST MODE: local billing provider. No real account, payout or transfer."
_DAY_DOC = (
    "YYYY-MM-DD (UTC, inclusive); default: from the first day of this month to today. "
    "At most 366 days."
)
_FROM = Parameter(query="from", required=False, description=_DAY_DOC)
_TO = Parameter(query="to", required=False, description=_DAY_DOC)


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    end = end or today
    return start or end.replace(day=1), end


class PublisherPayoutsController(PublisherRoutes):
    path = "/v1/publisher"
    tags = ["publisher"]

    @post("/payouts/onboarding", operation_id="startPayoutOnboarding", status_code=201)
    async def start_onboarding(
        self, principal: Principal, payouts: PayoutService, provider: BillingProvider
    ) -> OnboardingOut:
        """Create this publisher's connected account (Stripe Connect Express) at the first
        call, and return a fresh single-use onboarding link for it."""
        status, url = await payouts.start_onboarding(principal.account_id)
        out = PayoutStatusOut.of(status, test_mode=provider.test_mode)
        return OnboardingOut(url=url, status=out)

    @get("/payouts", operation_id="getPayoutStatus")
    async def payout_status(
        self, principal: Principal, payouts: PayoutService, provider: BillingProvider
    ) -> PayoutStatusOut:
        """Details submitted, charges and payouts enabled (kept current by account.updated),
        and the platform fee on this publisher's sales."""
        status = await payouts.status(principal.account_id)
        return PayoutStatusOut.of(status, test_mode=provider.test_mode)

    @get("/earnings", operation_id="getPublisherEarnings")
    async def earnings(
        self,
        principal: Principal,
        earnings: EarningsService,
        from_date: date | None = _FROM,
        to_date: date | None = _TO,
    ) -> StatementOut:
        """This publisher's statement: totals per currency, per pack and per month of its
        sales, renewals, refunds and lost disputes (gross, platform fee, net)."""
        start, end = _period(from_date, to_date)
        return StatementOut.of(await earnings.statement(principal.account_id, start, end))


def _fee_out(fee: FeeSetting) -> FeeOut:
    return FeeOut(
        publisher_account_id=fee.publisher_account_id,
        fee_bps=fee.fee_bps,
        updated_by=fee.updated_by,
        updated_at=fee.updated_at,
    )


class AdminRevenueController(AdminRoutes):
    path = "/v1/admin"
    tags = ["admin"]

    @get("/platform-fees", operation_id="listPlatformFees")
    async def list_fees(self, payouts: PayoutService) -> list[FeeOut]:
        """The default platform fee (first; ``publisher_account_id`` null), then each
        publisher's own."""
        return [_fee_out(fee) for fee in await payouts.list_fees()]

    @put("/platform-fees/default", operation_id="setDefaultPlatformFee", status_code=200)
    async def set_default_fee(
        self, principal: Principal, payouts: PayoutService, data: FeeRequest
    ) -> FeeOut:
        """Set the default fee for checkouts opened from now on (audited)."""
        fee = await payouts.set_fee(None, data.fee_bps, admin_account_id=principal.account_id)
        return _fee_out(fee)

    @put(
        "/platform-fees/{publisher_account_id:str}",
        operation_id="setPublisherPlatformFee",
        status_code=200,
    )
    async def set_publisher_fee(
        self,
        principal: Principal,
        payouts: PayoutService,
        publisher_account_id: str,
        data: FeeRequest,
    ) -> FeeOut:
        """Set one publisher's fee (404 for an account that is not a publisher; audited)."""
        fee = await payouts.set_fee(
            publisher_account_id, data.fee_bps, admin_account_id=principal.account_id
        )
        return _fee_out(fee)

    @get("/publishers/{publisher_account_id:str}/earnings", operation_id="getEarningsAsAdmin")
    async def publisher_earnings(
        self,
        earnings: EarningsService,
        publisher_account_id: str,
        from_date: date | None = _FROM,
        to_date: date | None = _TO,
    ) -> StatementOut:
        """Any publisher's statement (an unknown id has an empty one)."""
        start, end = _period(from_date, to_date)
        return StatementOut.of(await earnings.statement(publisher_account_id, start, end))

    @post("/orders/{session_id:str}/refund", operation_id="refundTestOrder", status_code=200)
    async def refund_test_order(
        self, billing: BillingService, provider: BillingProvider, session_id: str
    ) -> LocalRefundOut:
        """TEST MODE only: refund a paid local order in full, as a Stripe refund would arrive
        (the entitlement is revoked and the publisher's share reversed). 404 with Stripe:
        refund in the Stripe Dashboard; the webhook updates the ledger."""
        if provider.name != "local":
            raise NotFound("test refunds exist only with the local billing provider")
        outcome = await billing.refund_test_order(session_id)
        return LocalRefundOut(
            session_id=session_id, duplicate=outcome.duplicate, outcome=outcome.outcome
        )


class LocalOnboardingController(Controller):
    """The local provider's stand-in for Stripe's hosted onboarding (TEST MODE)."""

    path = "/v1/billing/local/onboarding"
    tags = ["billing"]
    opt = PUBLIC  # the connected account id in the URL is the capability, as a link is

    @get("/{account_ref:str}", operation_id="localOnboardingPage", media_type="text/html")
    async def page(
        self, payouts: PayoutService, provider: BillingProvider, account_ref: str
    ) -> Response[str]:
        """A page with a form that completes the simulated onboarding."""
        await _local_account(payouts, provider, account_ref)
        ref = html.escape(account_ref)
        body = f"""<!doctype html><html><head><title>PackDesk test payouts</title></head>
<body><p><strong>{TEST_MODE_BANNER}</strong></p><h1>Payout onboarding</h1>
<p>Connected account {ref} (simulated).</p>
<form method="post" action="/v1/billing/local/onboarding/{ref}">
<button type="submit">Complete test onboarding</button></form></body></html>"""
        return Response(body, media_type="text/html")

    @post("/{account_ref:str}", operation_id="localOnboardingComplete", status_code=303)
    async def complete(
        self,
        payouts: PayoutService,
        billing: BillingService,
        provider: BillingProvider,
        account_ref: str,
    ) -> Redirect:
        """Complete it: details submitted, charges and payouts enabled (idempotent)."""
        await _local_account(payouts, provider, account_ref)
        await billing.complete_test_onboarding(account_ref)
        return Redirect("/v1/billing/connect/return", status_code=303)


async def _local_account(payouts: PayoutService, provider: BillingProvider, ref: str) -> str:
    if provider.name != "local":
        raise NotFound("local onboarding is disabled: a real billing provider is configured")
    account_id = await payouts.account_for_ref(ref)
    if account_id is None:
        raise NotFound(f"no test connected account {ref!r}")
    return account_id


class ConnectReturnController(Controller):
    """Where onboarding sends the publisher back (Stripe's ``return_url`` and
    ``refresh_url``). Public pages that show no account data."""

    path = "/v1/billing/connect"
    tags = ["billing"]
    opt = PUBLIC

    @get("/return", operation_id="payoutOnboardingReturn", media_type="text/html",
         sync_to_thread=False)
    def returned(self) -> Response[str]:
        """Shown when onboarding is left (completed or not)."""
        return _page(
            "Payout onboarding",
            "Thank you. Your payout status updates as soon as the payment provider confirms it: "
            "<code>GET /v1/publisher/payouts</code>.",
        )

    @get("/refresh", operation_id="payoutOnboardingRefresh", media_type="text/html",
         sync_to_thread=False)
    def refresh(self) -> Response[str]:
        """Shown when an onboarding link expired or was used already."""
        return _page(
            "Onboarding link expired",
            "Ask for a new one: <code>POST /v1/publisher/payouts/onboarding</code>.",
        )


def _page(title: str, message_html: str) -> Response[str]:
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{message_html}</p></body></html>"
    )
    return Response(body, media_type="text/html")
