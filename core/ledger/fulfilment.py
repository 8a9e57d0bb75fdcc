"""Where money turns into access: checkout orders, fulfilment and the other billing effects.

Every provider event goes through :meth:`BillingService.apply`, which records the event id and
applies the effect in ONE transaction: a redelivered event finds its id already recorded and
changes nothing, and the concurrent deliveries of one event are serialised by the unique key on
``processed_billing_events`` (PostgreSQL waits on the first inserter; SQLite's writers queue on
``BEGIN IMMEDIATE``). Entitlement rows have a partial unique index on (account, pack) over live
statuses, so two different purchases of one pack still leave a single live entitlement.

Events arrive in any order (:mod:`core.ledger.event_order`): a full refund and a subscription's
end leave tombstones that refuse later grants, subscription changes older than the newest one
applied are ignored, and a completed checkout grants only when it matches the order stored
when it was opened. Locks are taken in one order (event id, provider object, checkout order,
entitlement), so concurrent events wait for each other instead of deadlocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ConfigError, Conflict, NotFound
from core.ledger.billing import (
    BillingEvent,
    BillingProvider,
    CheckoutConfirmer,
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
    WebhookReceiver,
    price_lookup_key,
)
from core.ledger.catalog import CatalogService
from core.ledger.common import as_utc, audit, dialect_name, insert_for, utcnow_
from core.ledger.db import Database
from core.ledger.earnings import Return
from core.ledger.entitlements import EntitlementService
from core.ledger.event_order import (
    CHARGE,
    ENDED,
    PAYMENT,
    REFUNDED,
    SUBSCRIPTION,
    UNKNOWN,
    is_stale,
    lock_object,
    lock_order,
    order_mismatches,
)
from core.ledger.models import (
    LIVE_STATUSES,
    Account,
    BillingCustomer,
    BillingObject,
    CheckoutOrder,
    Entitlement,
    Pack,
    Price,
    ProcessedBillingEvent,
)
from core.ledger.payouts import apply_account_update
from core.ledger.revenue import (
    dispute_return,
    record_invoice,
    record_money_back,
    record_order_sale,
    refund_return,
    revenue_share,
)
from core.ledger.reversals import ReversalSettler

# Provider subscription statuses -> entitlement status.
_SUBSCRIPTION_STATUS = {
    "active": "active",
    "trialing": "active",
    "past_due": "suspended",
    "unpaid": "suspended",
    "incomplete": "suspended",
    "paused": "suspended",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}


@dataclass(frozen=True)
class BillingOutcome:
    """What applying one event did. ``duplicate``: the event id was seen before; nothing changed."""

    event_id: str
    event_type: str
    duplicate: bool
    outcome: str


class BillingService:
    """Checkout, fulfilment and the ledger side of every billing event.

    The one place where the provider and the ledger meet: the provider only talks to its
    payment service and translates; this service asks it and applies what it reports.
    ``catalog`` and ``entitlements`` are the process's own services, shared so that the
    process keeps one access cache.
    """

    def __init__(
        self,
        db: Database,
        provider: BillingProvider,
        *,
        catalog: CatalogService,
        entitlements: EntitlementService,
    ) -> None:
        self.db = db
        self.provider = provider
        self.catalog = catalog
        self.entitlements = entitlements
        self._reversals = ReversalSettler(db)

    # --- prices and checkout -----------------------------------------------------------------
    async def sync_price(self, pack_id: str, version: str) -> str | None:
        """Create/update the provider's product and price for an approved version; remember it.

        Raises:
            PackNotFound: no such version. Conflict: the version is not approved.
        """
        from core.packs.manifest import Pricing

        info = await self.catalog.get_version(pack_id, version)
        if info.status != "approved":
            raise Conflict(f"pack {pack_id} version {version} is {info.status}, not approved")
        if info.pricing_model == "free":
            return None
        pricing = Pricing.model_validate(
            {"model": info.pricing_model, "amount": info.amount, "currency": info.currency}
        )
        name = str(info.manifest.get("name", pack_id))
        price_ref = await self.provider.sync_price(
            pack_id=pack_id, version=version, name=name, pricing=pricing
        )
        async with self.db.write() as session:
            values = {
                "provider": self.provider.name,
                "lookup_key": price_lookup_key(pack_id, version),
                "pack_id": pack_id,
                "version": version,
                "pricing_model": info.pricing_model,
                "amount": info.amount,
                "currency": info.currency,
                "provider_price_ref": price_ref,
                "synced_at": utcnow_(),
            }
            statement = insert_for(session, Price).values(**values)
            statement = statement.on_conflict_do_update(
                index_elements=["provider", "lookup_key"],
                set_={"provider_price_ref": price_ref, "synced_at": utcnow_()},
            )
            await session.execute(statement)
            audit(session, "price.synced", pack_id=pack_id, version=version, price_ref=price_ref)
        return price_ref

    async def start_checkout(self, account_id: str, pack_id: str) -> CheckoutSession:
        """Open a checkout for the newest approved version of a paid pack.

        Raises:
            PackNotFound: the pack is not in the catalog.
            Conflict: the pack is free or already owned by the account.
        """
        entry = await self.catalog.get(pack_id)
        if entry.is_free:
            raise Conflict(f"pack {pack_id!r} is free; every account owns it already")
        if await self.entitlements.may_read(account_id, pack_id):
            raise Conflict(f"account already owns pack {pack_id!r}")
        async with self.db.read() as session:
            # A third-party pack pays its publisher (destination charge); refused when the
            # publisher cannot receive payouts.
            share = await revenue_share(
                session,
                pack_id,
                entry.amount,
                provider=self.provider.name,
                default_fee_bps=self.db.settings.platform_fee_bps,
            )
        price_ref = await self._price_ref(pack_id, entry.version)
        customer_ref = await self.customer_ref(account_id)
        base = self.db.settings.public_base_url.rstrip("/")
        request = CheckoutRequest(
            account_id=account_id,
            pack_id=pack_id,
            pack_version=entry.version,
            pack_name=entry.name,
            pricing_model=entry.pricing_model,
            amount=entry.amount,
            currency=entry.currency,
            success_url=f"{base}/v1/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/v1/billing/cancel?pack_id={pack_id}",
            metadata={"account_id": account_id, "pack_id": pack_id, "version": entry.version},
            price_ref=price_ref,
            customer_ref=customer_ref,
            destination_ref=share.destination_ref if share else None,
            application_fee=share.application_fee if share else None,
            fee_bps=share.fee_bps if share else None,
        )
        checkout = await self.provider.create_checkout(request)
        async with self.db.write() as session:
            statement = insert_for(session, CheckoutOrder).values(
                session_id=checkout.session_id,
                provider=self.provider.name,
                account_id=account_id,
                pack_id=pack_id,
                version=entry.version,
                pricing_model=entry.pricing_model,
                amount=entry.amount,
                currency=entry.currency,
                status="open",
                price_ref=price_ref,
                publisher_account_id=share.publisher_account_id if share else None,
                destination_ref=share.destination_ref if share else None,
                application_fee=share.application_fee if share else None,
                fee_bps=share.fee_bps if share else None,
                created_at=utcnow_(),
                updated_at=utcnow_(),
            )
            await session.execute(statement.on_conflict_do_nothing())
            if checkout.customer_ref and checkout.customer_ref != customer_ref:
                await self._remember_customer(session, account_id, checkout.customer_ref)
            audit(
                session,
                "checkout.started",
                account_id=account_id,
                pack_id=pack_id,
                session_id=checkout.session_id,
                provider=self.provider.name,
            )
        return checkout

    async def _price_ref(self, pack_id: str, version: str) -> str | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Price).where(
                        Price.provider == self.provider.name,
                        Price.lookup_key == price_lookup_key(pack_id, version),
                    )
                )
            ).scalar()
        if row is not None and row.provider_price_ref:
            return row.provider_price_ref
        return await self.sync_price(pack_id, version)

    async def get_order(self, session_id: str) -> dict[str, Any]:
        """A checkout order as a dict (session_id, account_id, pack_id, status, ...)."""
        async with self.db.read() as session:
            order = await session.get(CheckoutOrder, session_id)
        if order is None:
            raise NotFound(f"no checkout session {session_id!r}")
        return {
            "session_id": order.session_id,
            "provider": order.provider,
            "account_id": order.account_id,
            "pack_id": order.pack_id,
            "version": order.version,
            "pricing_model": order.pricing_model,
            "amount": order.amount,
            "currency": order.currency,
            "price_ref": order.price_ref,
            "status": order.status,
            "payment_ref": order.payment_ref,
            "publisher_account_id": order.publisher_account_id,
            "destination_ref": order.destination_ref,
            "application_fee": order.application_fee,
        }

    async def confirm_checkout(self, session_id: str) -> BillingOutcome:
        """Complete a checkout on this server (local test mode); safe to call twice.

        The provider turns the stored order into its confirming event, applied by :meth:`apply`.

        Raises:
            ConfigError: the provider's checkouts are completed by its payment service, not here.
            NotFound: no order with this id for this provider.
            Conflict: the order failed or was refunded.
        """
        provider = self.provider
        if not isinstance(provider, CheckoutConfirmer):
            raise ConfigError(
                f"billing provider {provider.name!r} completes its own checkouts; "
                "they cannot be confirmed here"
            )
        order = await self.get_order(session_id)
        if order["provider"] != provider.name:
            raise NotFound(f"no {provider.name} checkout session {session_id!r}")
        if order["status"] in ("failed", "refunded"):
            raise Conflict(f"checkout session {session_id} is {order['status']}")
        event = provider.confirm_checkout(
            session_id=session_id,
            account_id=order["account_id"],
            pack_id=order["pack_id"],
            version=order["version"],
        )
        return await self.apply(event)

    async def refund_test_order(self, session_id: str) -> BillingOutcome:
        """Refund a paid local (TEST MODE) order in full, as a provider refund would arrive.

        Raises:
            ConfigError: the provider refunds at its payment service, not here.
            NotFound: no such order of this provider. Conflict: the order is not paid.
        """
        provider = self.provider
        refunder = getattr(provider, "refund_checkout", None)
        if not callable(refunder):
            raise ConfigError(
                f"billing provider {provider.name!r} refunds at its payment service; refund "
                "there and its webhook updates the ledger"
            )
        order = await self.get_order(session_id)
        if order["provider"] != provider.name:
            raise NotFound(f"no {provider.name} checkout session {session_id!r}")
        if order["status"] != "paid":
            raise Conflict(f"checkout session {session_id} is {order['status']}, not paid")
        return await self.apply(refunder(order=order))

    async def complete_test_onboarding(self, account_ref: str) -> BillingOutcome:
        """Complete a local (TEST MODE) publisher's onboarding, as the provider's
        ``account.updated`` would.

        Raises:
            ConfigError: the provider onboards publishers itself.
        """
        completer = getattr(self.provider, "complete_onboarding", None)
        if not callable(completer):
            raise ConfigError(
                f"billing provider {self.provider.name!r} onboards publishers itself"
            )
        return await self.apply(completer(account_ref=account_ref))

    # --- events --------------------------------------------------------------------------------
    async def handle_webhook(self, payload: bytes, signature_header: str | None) -> BillingOutcome:
        """THE webhook entry: the provider verifies and parses the delivery; it is applied here.

        What ``POST /v1/billing/<provider>/webhook`` calls.

        Raises:
            WebhookSignatureError: bad signature; nothing was changed.
            ConfigError: the provider takes no webhooks (or has no webhook secret).
        """
        provider = self.provider
        if not isinstance(provider, WebhookReceiver):
            raise ConfigError(f"billing provider {provider.name!r} takes no webhooks")
        return await self.apply(provider.parse_webhook(payload, signature_header))

    async def fulfil(
        self,
        grant: Grant,
        *,
        event_id: str,
        event_type: str = "fulfilment",
        provider: str | None = None,
    ) -> BillingOutcome:
        """THE fulfilment function: grant a paid purchase, exactly once per ``event_id``.

        Safe to call twice and concurrently; the event id is recorded in the same transaction
        as the grant.
        """
        event = BillingEvent(event_id, event_type, provider or self.provider.name, grant)
        return await self.apply(event)

    async def apply(self, event: BillingEvent) -> BillingOutcome:
        """Record ``event.event_id`` and apply its effect atomically; a seen id is a no-op."""
        async with self.db.write() as session:
            statement = insert_for(session, ProcessedBillingEvent).values(
                event_id=event.event_id,
                provider=event.provider,
                event_type=event.event_type,
                outcome="processing",
                processed_at=utcnow_(),
            )
            result = cast(
                CursorResult[Any], await session.execute(statement.on_conflict_do_nothing())
            )
            if result.rowcount == 0:
                return BillingOutcome(event.event_id, event.event_type, True, "duplicate")
            outcome = await self._apply_effect(session, event)
            await session.execute(
                update(ProcessedBillingEvent)
                .where(ProcessedBillingEvent.event_id == event.event_id)
                .values(outcome=outcome[:200])
            )
        if isinstance(event.effect, Grant | PaymentRefunded | DisputeClosed | InvoicePaid):
            # Money went back: the provider reverses the publisher's transfer now that the
            # ledger says so (a failure stays pending and is retried; the event is applied).
            await self.settle_reversals(event_id=event.event_id)
        return BillingOutcome(event.event_id, event.event_type, False, outcome)

    async def settle_reversals(self, *, event_id: str | None = None) -> list[str]:
        """Ask the provider for the transfer reversals the earnings ledger owes (those of one
        event's transfer, or every pending one); :class:`core.ledger.reversals.ReversalSettler`.
        """
        return await self._reversals.settle(self.provider, event_id=event_id)

    async def _apply_effect(self, session: AsyncSession, event: BillingEvent) -> str:
        effect = event.effect
        if isinstance(effect, Grant):
            return await self._grant(session, effect, event.event_id)
        if isinstance(effect, PaymentAwaited):
            return await self._set_order_status(session, effect.order_ref, "awaiting_payment")
        if isinstance(effect, PaymentFailed):
            return await self._set_order_status(session, effect.order_ref, "failed")
        if isinstance(effect, PaymentRefunded):
            return await self._refund(session, effect, event.event_id)
        if isinstance(effect, SubscriptionChanged):
            return await self._subscription_changed(session, effect, event.event_id)
        if isinstance(effect, SubscriptionEnded):
            return await self._end_subscription(session, effect, event.event_id)
        if isinstance(effect, EntitlementSummary):
            return await self._reconcile(session, effect, event.event_id)
        if isinstance(effect, InvoicePaid):
            return await self._invoice_paid(session, effect, event.event_id)
        if isinstance(effect, DisputeClosed):
            return await self._dispute_closed(session, effect, event.event_id)
        if isinstance(effect, PayoutAccountUpdated):
            return await apply_account_update(session, self.provider.name, effect, event.event_id)
        if isinstance(effect, Ignored):
            return f"ignored: {effect.reason}"
        raise TypeError(f"unknown billing effect {effect!r}")  # a programming error

    async def _grant(self, session: AsyncSession, grant: Grant, event_id: str) -> str:
        if await session.get(Account, grant.account_id) is None:
            return f"ignored: unknown account {grant.account_id}"
        if await session.get(Pack, grant.pack_id) is None:
            return f"ignored: unknown pack {grant.pack_id}"
        now = utcnow_()
        provider = self.provider.name
        payment = subscription = None
        if grant.payment_ref:
            payment = await lock_object(
                session, provider, PAYMENT, grant.payment_ref, status="paid"
            )
        if grant.subscription_ref:
            subscription = await lock_object(
                session, provider, SUBSCRIPTION, grant.subscription_ref, status=UNKNOWN
            )
        order = None
        if grant.order_ref:
            order = await lock_order(session, grant.order_ref)
            if order is None:
                # Nothing to compare the purchase with: this server never opened the checkout.
                audit(
                    session,
                    "order.unknown",
                    account_id=grant.account_id,
                    pack_id=grant.pack_id,
                    order=grant.order_ref,
                    event_id=event_id,
                )
                return f"ignored: no stored checkout order {grant.order_ref}"
            mismatches = order_mismatches(order, grant)
            if mismatches:
                audit(
                    session,
                    "order.mismatch",
                    account_id=order.account_id,
                    pack_id=order.pack_id,
                    order=grant.order_ref,
                    event_id=event_id,
                    mismatches=mismatches,
                )
                return (
                    f"ignored: checkout {grant.order_ref} does not match its order: "
                    + "; ".join(mismatches)
                )
            # The money was taken (the grant may still be refused below): record the order paid
            # (or refunded), as the same events in their usual order would have left it.
            order.status = "paid"
            order.payment_ref = grant.payment_ref or order.payment_ref
            order.subscription_ref = grant.subscription_ref or order.subscription_ref
            order.updated_at = now
        if grant.customer_ref:
            await self._remember_customer(session, grant.account_id, grant.customer_ref)
        sold = None
        if order is not None:
            # Money was taken even when the grant is refused below: the publisher's sale (and
            # a return that came first) goes into the earnings ledger with it.
            sold = await record_order_sale(
                session, provider=provider, order=order, grant=grant, event_id=event_id,
                payment=payment,
            )
        outcome = await self._grant_entitlement(
            session, grant, event_id, order=order, payment=payment, subscription=subscription
        )
        return f"{outcome}; {sold}" if sold else outcome

    async def _grant_entitlement(
        self,
        session: AsyncSession,
        grant: Grant,
        event_id: str,
        *,
        order: CheckoutOrder | None,
        payment: BillingObject | None,
        subscription: BillingObject | None,
    ) -> str:
        now = utcnow_()
        if payment is not None and payment.status == REFUNDED:
            if order is not None:
                order.status = "refunded"
            reason = f"payment {grant.payment_ref} was refunded"
            return self._refused(session, grant, event_id, reason)
        if subscription is not None and subscription.status == ENDED:
            return self._refused(
                session, grant, event_id, f"subscription {grant.subscription_ref} has ended"
            )
        status, period_end = "active", grant.current_period_end
        if subscription is not None and subscription.status != UNKNOWN:
            # Subscription events that came first decide what the completed checkout grants.
            status = _SUBSCRIPTION_STATUS.get(subscription.status, "active")
            period_end = as_utc(subscription.current_period_end) or period_end
        await session.flush()
        live = await self._live_entitlement(session, grant.account_id, grant.pack_id)
        if live is None:
            statement = insert_for(session, Entitlement).values(
                account_id=grant.account_id,
                pack_id=grant.pack_id,
                source=grant.source,
                status=status,
                current_period_end=period_end,
                order_id=grant.order_ref,
                subscription_ref=grant.subscription_ref,
                created_at=now,
                updated_at=now,
            )
            result = cast(
                CursorResult[Any], await session.execute(statement.on_conflict_do_nothing())
            )
            if result.rowcount == 1:
                audit(
                    session,
                    "entitlement.granted",
                    account_id=grant.account_id,
                    pack_id=grant.pack_id,
                    source=grant.source,
                    status=status,
                    event_id=event_id,
                    order=grant.order_ref,
                )
                return "granted"
            # A concurrent purchase of the same pack committed first: extend that one.
            live = await self._live_entitlement(session, grant.account_id, grant.pack_id)
            if live is None:  # pragma: no cover - the conflicting row vanished
                raise Conflict(f"could not grant {grant.pack_id} to {grant.account_id}")
        # Another purchase may reactivate it; this subscription's own state may also suspend it.
        if status == "active" or live.subscription_ref == grant.subscription_ref:
            live.status = status
        if grant.subscription_ref and not live.subscription_ref:
            live.subscription_ref = grant.subscription_ref
        if period_end is not None:
            current = as_utc(live.current_period_end)
            if current is None or period_end > current:
                live.current_period_end = period_end
        live.updated_at = now
        audit(
            session,
            "entitlement.extended",
            account_id=grant.account_id,
            pack_id=grant.pack_id,
            event_id=event_id,
            order=grant.order_ref,
        )
        return "already owned: entitlement kept"

    @staticmethod
    def _refused(session: AsyncSession, grant: Grant, event_id: str, reason: str) -> str:
        audit(
            session,
            "entitlement.refused",
            account_id=grant.account_id,
            pack_id=grant.pack_id,
            reason=reason,
            event_id=event_id,
            order=grant.order_ref,
        )
        return f"ignored: {reason}"

    @staticmethod
    async def _live_entitlement(
        session: AsyncSession, account_id: str, pack_id: str
    ) -> Entitlement | None:
        statement = select(Entitlement).where(
            Entitlement.account_id == account_id,
            Entitlement.pack_id == pack_id,
            Entitlement.status.in_(LIVE_STATUSES),
        )
        if dialect_name(session) == "postgresql":
            statement = statement.with_for_update()
        return (await session.execute(statement)).scalar()

    async def _set_order_status(self, session: AsyncSession, order_ref: str, status: str) -> str:
        """An order waits for its payment (from ``open``) or fails (until it is paid); a late
        delivery never moves it back."""
        order = await lock_order(session, order_ref)
        if order is None:
            return f"ignored: unknown order {order_ref}"
        allowed_from = ("open",) if status == "awaiting_payment" else ("open", "awaiting_payment")
        if order.status not in allowed_from:
            return f"ignored: order {order_ref} is already {order.status}"
        order.status = status
        order.updated_at = utcnow_()
        audit(
            session,
            f"order.{status}",
            account_id=order.account_id,
            pack_id=order.pack_id,
            order=order_ref,
        )
        return f"order {status}"

    async def _refund(
        self,
        session: AsyncSession,
        refund: PaymentRefunded,
        event_id: str,
        money_back: Return | None = None,
    ) -> str:
        """A refund (or a lost dispute: ``money_back``) of a payment: the earnings row, the
        tombstone when full, and the entitlement bought with it revoked."""
        provider = self.provider.name
        if money_back is None:
            money_back = refund_return(provider, refund, event_id)
        if refund.charge_ref:
            charge = await lock_object(
                session, provider, CHARGE, refund.charge_ref,
                status=REFUNDED if refund.full else "paid",
            )
            if refund.full:
                charge.status, charge.event_id, charge.updated_at = REFUNDED, event_id, utcnow_()
        if not refund.payment_ref:
            returned = await record_money_back(session, money_back)
            return f"ignored: refunded charge {refund.charge_ref} names no payment" + (
                f"; {returned}" if returned else ""
            )
        # Every return of a payment locks it: its earnings rows are written one at a time.
        payment = await lock_object(
            session, provider, PAYMENT, refund.payment_ref,
            status=REFUNDED if refund.full else "paid",
        )
        if refund.full:
            # The tombstone: a completion of this payment delivered later grants nothing.
            payment.status, payment.event_id, payment.updated_at = REFUNDED, event_id, utcnow_()
        returned = await record_money_back(session, money_back)
        outcome = await self._revoke_refunded(session, refund, event_id)
        return f"{outcome}; {returned}" if returned else outcome

    async def _revoke_refunded(
        self, session: AsyncSession, refund: PaymentRefunded, event_id: str
    ) -> str:
        assert refund.payment_ref is not None  # checked by _refund
        orders = list(
            (
                await session.execute(
                    select(CheckoutOrder).where(CheckoutOrder.payment_ref == refund.payment_ref)
                )
            ).scalars()
        )
        if not orders:
            if refund.full:
                return f"refunded: payment {refund.payment_ref} recorded, no order paid with it yet"
            return f"ignored: no order paid with {refund.payment_ref}"
        if not refund.full:
            for order in orders:
                audit(
                    session,
                    "payment.partially_refunded",
                    account_id=order.account_id,
                    pack_id=order.pack_id,
                    payment=refund.payment_ref,
                )
            return "partial refund: entitlement kept"
        revoked = 0
        for order in orders:
            order.status = "refunded"
            order.updated_at = utcnow_()
            await session.flush()
            live = await self._live_entitlement(session, order.account_id, order.pack_id)
            if live is None:
                continue
            other_paid = (
                await session.execute(
                    select(CheckoutOrder).where(
                        CheckoutOrder.account_id == order.account_id,
                        CheckoutOrder.pack_id == order.pack_id,
                        CheckoutOrder.status == "paid",
                    )
                )
            ).scalar()
            if other_paid is not None or live.subscription_ref:
                # Another paid purchase (or a subscription) still backs the entitlement.
                live.order_id = other_paid.session_id if other_paid else live.order_id
                continue
            live.status = "refunded"
            live.updated_at = utcnow_()
            revoked += 1
            audit(
                session,
                "entitlement.revoked",
                account_id=order.account_id,
                pack_id=order.pack_id,
                reason="refunded",
                event_id=event_id,
            )
        return f"refunded: {revoked} entitlement(s) revoked"

    async def _invoice_paid(
        self, session: AsyncSession, invoice: InvoicePaid, event_id: str
    ) -> str:
        """A subscription invoice paid: the publisher's sale or renewal (access follows the
        subscription's own events)."""
        payment = None
        if invoice.charge_ref:
            await lock_object(
                session, self.provider.name, CHARGE, invoice.charge_ref, status="paid"
            )
        if invoice.payment_ref:
            payment = await lock_object(
                session, self.provider.name, PAYMENT, invoice.payment_ref, status="paid"
            )
        return await record_invoice(
            session,
            provider=self.provider.name,
            invoice=invoice,
            event_id=event_id,
            payment=payment,
            default_fee_bps=self.db.settings.platform_fee_bps,
        )

    async def _dispute_closed(
        self, session: AsyncSession, dispute: DisputeClosed, event_id: str
    ) -> str:
        """Lost: like a full refund (the publisher's share of the disputed amount reversed,
        the purchase revoked). Won: nothing was reversed, so nothing is restored."""
        if dispute.status != "lost":
            return f"dispute {dispute.dispute_ref} {dispute.status}: nothing reversed or restored"
        refund = PaymentRefunded(
            payment_ref=dispute.payment_ref, full=True, charge_ref=dispute.charge_ref
        )
        outcome = await self._refund(
            session, refund, event_id, dispute_return(self.provider.name, dispute, event_id)
        )
        return f"dispute lost: {outcome}"

    async def _subscription_changed(
        self, session: AsyncSession, change: SubscriptionChanged, event_id: str
    ) -> str:
        status = _SUBSCRIPTION_STATUS.get(change.status)
        if status is None:
            return f"ignored: subscription status {change.status!r}"
        ref = change.subscription_ref
        state = await lock_object(session, self.provider.name, SUBSCRIPTION, ref, status=UNKNOWN)
        if state.status == ENDED:
            return f"ignored: subscription {ref} has ended"
        if is_stale(state, change):
            return (
                f"ignored: stale {change.status} of subscription {ref} "
                f"(a change of {as_utc(state.changed_at)} is applied)"
            )
        recorded = ENDED if status == "canceled" else change.status
        self._record_subscription(state, recorded, change, event_id)
        # Only a completed checkout that matches its order grants; this event only updates.
        rows = await self._subscription_entitlements(session, ref)
        if not rows:
            return f"subscription {change.status}: recorded, no entitlement yet"
        for row in rows:
            row.status = status
            if change.current_period_end is not None:
                row.current_period_end = change.current_period_end
            row.updated_at = utcnow_()
            audit(
                session,
                f"entitlement.subscription_{status}",
                account_id=row.account_id,
                pack_id=row.pack_id,
                subscription=ref,
                event_id=event_id,
            )
        return f"subscription {change.status}: {len(rows)} entitlement(s) {status}"

    @staticmethod
    def _record_subscription(
        state: BillingObject,
        status: str,
        change: SubscriptionChanged | SubscriptionEnded,
        event_id: str,
    ) -> None:
        state.status = status
        if isinstance(change, SubscriptionChanged) and change.current_period_end is not None:
            state.current_period_end = change.current_period_end
        last = as_utc(state.changed_at)
        if change.changed_at is not None and (last is None or change.changed_at > last):
            state.changed_at = change.changed_at
        state.event_id = event_id
        state.updated_at = utcnow_()

    @staticmethod
    async def _subscription_entitlements(
        session: AsyncSession, subscription_ref: str
    ) -> list[Entitlement]:
        return list(
            (
                await session.execute(
                    select(Entitlement).where(
                        Entitlement.subscription_ref == subscription_ref,
                        Entitlement.status.in_(LIVE_STATUSES),
                    )
                )
            ).scalars()
        )

    async def _end_subscription(
        self, session: AsyncSession, ended: SubscriptionEnded, event_id: str
    ) -> str:
        ref = ended.subscription_ref
        # The tombstone: no later (or retried) event grants or reactivates this subscription.
        state = await lock_object(session, self.provider.name, SUBSCRIPTION, ref, status=ENDED)
        self._record_subscription(state, ENDED, ended, event_id)
        rows = await self._subscription_entitlements(session, ref)
        for row in rows:
            row.status = "canceled"
            row.updated_at = utcnow_()
            audit(
                session,
                "entitlement.revoked",
                account_id=row.account_id,
                pack_id=row.pack_id,
                reason="subscription ended",
                subscription=ref,
                event_id=event_id,
            )
        return f"subscription ended: {len(rows)} entitlement(s) revoked"

    async def _reconcile(
        self, session: AsyncSession, summary: EntitlementSummary, event_id: str
    ) -> str:
        customer = (
            await session.execute(
                select(BillingCustomer).where(
                    BillingCustomer.provider == self.provider.name,
                    BillingCustomer.customer_ref == summary.customer_ref,
                )
            )
        ).scalar()
        if customer is None:
            return f"ignored: unknown customer {summary.customer_ref}"
        account_id = customer.account_id
        live = list(
            (
                await session.execute(
                    select(Entitlement).where(
                        Entitlement.account_id == account_id,
                        Entitlement.status.in_(LIVE_STATUSES),
                    )
                )
            ).scalars()
        )
        revoked = granted = 0
        held = {row.pack_id for row in live}
        for row in live:
            # Only subscription access is mirrored by the provider's entitlements; one-time
            # purchases are not, so they are never revoked here.
            if row.source == "subscription" and row.pack_id not in summary.pack_ids:
                row.status = "revoked"
                row.updated_at = utcnow_()
                revoked += 1
                audit(
                    session,
                    "entitlement.revoked",
                    account_id=account_id,
                    pack_id=row.pack_id,
                    reason="not in provider entitlement summary",
                    event_id=event_id,
                )
        for pack_id in sorted(summary.pack_ids - held):
            grant = Grant(
                account_id=account_id, pack_id=pack_id, version=None, source="subscription"
            )
            if (await self._grant(session, grant, event_id)) == "granted":
                granted += 1
        return f"reconciled: {granted} granted, {revoked} revoked"

    # --- customers -----------------------------------------------------------------------------
    async def customer_ref(self, account_id: str, *, provider: str | None = None) -> str | None:
        """The provider's customer id for an account, if one was stored."""
        async with self.db.read() as session:
            row = await session.get(BillingCustomer, (provider or self.provider.name, account_id))
        return row.customer_ref if row else None

    async def remember_customer(
        self, account_id: str, customer_ref: str, *, provider: str | None = None
    ) -> str:
        """Store the account -> customer mapping; returns the stored id (the first one wins)."""
        async with self.db.write() as session:
            return await self._remember_customer(session, account_id, customer_ref, provider)

    async def _remember_customer(
        self,
        session: AsyncSession,
        account_id: str,
        customer_ref: str,
        provider: str | None = None,
    ) -> str:
        name = provider or self.provider.name
        statement = insert_for(session, BillingCustomer).values(
            provider=name, account_id=account_id, customer_ref=customer_ref
        )
        await session.execute(statement.on_conflict_do_nothing())
        row = await session.get(BillingCustomer, (name, account_id))
        return row.customer_ref if row else customer_ref

    async def account_for_customer(self, customer_ref: str) -> str | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(BillingCustomer).where(
                        BillingCustomer.provider == self.provider.name,
                        BillingCustomer.customer_ref == customer_ref,
                    )
                )
            ).scalar()
        return row.account_id if row else None
