"""Webhook storm (issue 14): 2,000 signed Stripe deliveries, shuffled, duplicated, concurrent.

Stripe neither orders its deliveries nor stops retrying them. Fifty customers each buy, get
refunded, re-buy, pay late or not at all, subscribe, fall past due, renew and cancel; every
event of that history is delivered once or more, in a random order, several at a time, on
PostgreSQL, through ``BillingService.handle_webhook``. The entitlements left must be the ones the
events in their true order give (:class:`ReferenceLedger`, a small model of the rules), and no
event may be applied twice.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from core.ledger.accounts import AccountService
from core.ledger.catalog import CatalogService
from core.ledger.db import Database
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingOutcome, BillingService
from core.ledger.models import LIVE_STATUSES, CheckoutOrder, Entitlement, ProcessedBillingEvent
from plugins.stripe_billing import StripeBilling
from tests.core.ledger.conftest import make_manifest
from tests.plugins.stripe_helpers import (
    WEBHOOK_SECRET,
    charge,
    checkout_session,
    emit_checkout_events,
    event,
    sign,
    subscription,
)

CUSTOMERS = 50
DELIVERIES = 2000
CONCURRENCY = 16  # deliveries in flight at once
SEED = 14
DAY = 86400
MONTHLY = "medical"
ONE_TIME = ("finance", "legal", "travel")
PRICES = {"finance": 1500, "legal": 2500, "travel": 700, "medical": 900}
# Stripe subscription status -> what the ledger's entitlement says.
SUBSCRIPTION_STATUS = {"active": "active", "trialing": "active", "past_due": "suspended"}


@dataclass(frozen=True)
class Order:
    session_id: str
    account_id: str
    pack_id: str


@dataclass(frozen=True)
class StormEvent:
    """One Stripe event of the history: ``created`` orders it; ``body`` is what is delivered."""

    event_id: str
    created: int
    kind: str
    obj: dict[str, Any]

    @property
    def body(self) -> bytes:
        return event(self.kind, self.obj, event_id=self.event_id, created=self.created)


@dataclass
class ReferenceLedger:
    """The billing rules on events in their true order: what the ledger must end with.

    A one-time pack is owned while one of its paid payments is not fully refunded; a
    subscription's pack is held while the subscription (its checkout completed) has not ended,
    with the status and period end of its newest update. A completion that does not match its
    stored order grants nothing.
    """

    orders: dict[str, Order]
    paid: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    refunded: set[str] = field(default_factory=set)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, item: StormEvent) -> None:
        obj = item.obj
        if item.kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            if obj["payment_status"] != "paid" or not self._matches(obj):
                return
            order = self.orders[obj["id"]]
            if obj["mode"] == "payment":
                self.paid.setdefault((order.account_id, order.pack_id), set()).add(
                    obj["payment_intent"]
                )
            else:
                self._subscription(obj["subscription"])["holder"] = order
        elif item.kind == "charge.refunded" and obj["refunded"]:
            self.refunded.add(obj["payment_intent"])
        elif item.kind in ("customer.subscription.created", "customer.subscription.updated"):
            state = self._subscription(obj["id"])
            state["status"] = obj["status"]
            state["period_end"] = obj["items"]["data"][0]["current_period_end"]
        elif item.kind == "customer.subscription.deleted":
            self._subscription(obj["id"])["ended"] = True

    def entitlements(self) -> dict[tuple[str, str], tuple[str, int | None]]:
        """(account, pack) -> (status, period end in epoch seconds) of every live entitlement."""
        held: dict[tuple[str, str], tuple[str, int | None]] = {}
        for key, payments in self.paid.items():
            if payments - self.refunded:
                held[key] = ("active", None)
        for state in self.subscriptions.values():
            holder = state.get("holder")
            if holder is None or state.get("ended"):
                continue
            status = SUBSCRIPTION_STATUS[state.get("status", "active")]
            held[(holder.account_id, holder.pack_id)] = (status, state.get("period_end"))
        return held

    def _matches(self, session: dict[str, Any]) -> bool:
        order = self.orders.get(session["id"])
        return (
            order is not None
            and session["metadata"]["account_id"] == order.account_id
            and session["amount_total"] == PRICES[order.pack_id]
        )

    def _subscription(self, sub_id: str) -> dict[str, Any]:
        return self.subscriptions.setdefault(sub_id, {})


class History:
    """Builds every customer's billing history as Stripe events with increasing ``created``."""

    def __init__(self, rng: random.Random, start: int) -> None:
        self.rng = rng
        self.clock = start
        self.ids = itertools.count(1)
        self.events: list[StormEvent] = []
        self.orders: dict[str, Order] = {}

    def emit(self, kind: str, obj: dict[str, Any]) -> None:
        self.clock += self.rng.randint(1, 30)
        self.events.append(StormEvent(f"evt_storm_{next(self.ids):05d}", self.clock, kind, obj))

    def order(self, account_id: str, pack_id: str) -> str:
        session_id = f"cs_storm_{next(self.ids):05d}"
        self.orders[session_id] = Order(session_id, account_id, pack_id)
        return session_id

    def one_time(self, account_id: str, customer: str, pack_id: str) -> None:
        """A purchase; maybe paid late (or never), partly and fully refunded, bought again."""
        for attempt in range(2):
            session_id = self.order(account_id, pack_id)
            intent = f"pi_{session_id}"
            session = checkout_session(
                account_id, pack_id, session_id=session_id, payment_intent=intent,
                customer=customer, amount_total=PRICES[pack_id],
            )
            if not emit_checkout_events(self.emit, self.rng, session,
                                        mismatched=0.15, asynchronous=0.3, failed=0.3):
                return
            paid = PRICES[pack_id]
            if self.rng.random() < 0.3:
                self.emit("charge.refunded", charge(intent, charge_id=f"ch_{session_id}",
                                                    amount=paid, refunded_amount=paid // 3))
            if self.rng.random() < 0.5:
                return
            self.emit("charge.refunded",
                      charge(intent, charge_id=f"ch_{session_id}", amount=paid))
            if attempt == 1 or self.rng.random() < 0.4:
                return  # refunded, and not bought again

    def subscribe(self, account_id: str, customer: str) -> None:
        """A subscription: created, completed, past due or renewed a few times, maybe ended."""
        session_id = self.order(account_id, MONTHLY)
        sub_id = f"sub_{session_id}"
        meta = {"account_id": account_id, "pack_id": MONTHLY}
        period_end = self.clock + 30 * DAY
        self.emit("customer.subscription.created",
                  subscription(sub_id, "active", period_end, customer=customer, **meta))
        self.emit("checkout.session.completed", checkout_session(
            account_id, MONTHLY, session_id=session_id, mode="subscription",
            subscription=sub_id, customer=customer, amount_total=PRICES[MONTHLY],
        ))
        for _ in range(self.rng.randint(2, 8)):
            if self.rng.random() < 0.4:
                status = "past_due"
            else:
                status, period_end = "active", period_end + 30 * DAY
            self.emit("customer.subscription.updated",
                      subscription(sub_id, status, period_end, customer=customer, **meta))
        if self.rng.random() < 0.4:
            self.emit("customer.subscription.deleted",
                      subscription(sub_id, "canceled", period_end, customer=customer, **meta))


def deliveries(events: list[StormEvent], rng: random.Random) -> list[StormEvent]:
    """Every event at least once, the rest of ``DELIVERIES`` as retries, all shuffled."""
    stream = list(events) + rng.choices(events, k=DELIVERIES - len(events))
    rng.shuffle(stream)
    return stream


async def ledger_entitlements(db: Database) -> dict[tuple[str, str], tuple[str, int | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(
                Entitlement.account_id,
                Entitlement.pack_id,
                Entitlement.status,
                Entitlement.current_period_end,
            ).where(Entitlement.status.in_(LIVE_STATUSES))
        )
        return {
            (account_id, pack_id): (status, int(end.timestamp()) if end else None)
            for account_id, pack_id, status, end in rows
        }


async def test_webhook_storm_ends_as_the_ordered_stream(
    postgres_db: Database, settings, capsys: pytest.CaptureFixture[str]
) -> None:
    db = postgres_db
    settings.stripe_api_key = SecretStr("sk_test_packdesk_fake")
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.stripe_api_base = "http://127.0.0.1:9"  # never called: webhooks need no API
    catalog = CatalogService(db)
    for pack_id in ONE_TIME:
        await catalog.register_builtin(make_manifest(pack_id, amount=PRICES[pack_id]))
    await catalog.register_builtin(
        make_manifest("medical", model="monthly", amount=PRICES["medical"])
    )
    billing = BillingService(
        db, StripeBilling(settings), catalog=catalog, entitlements=EntitlementService(db)
    )

    rng = random.Random(SEED)
    history = History(rng, start=int(time.time()) - 7 * DAY)
    accounts = AccountService(db)
    for n in range(CUSTOMERS):
        account, _ = await accounts.create_account(f"storm {n}", "customer")
        customer = f"cus_storm_{n:02d}"
        for pack_id in ONE_TIME:
            if rng.random() < 0.9:
                history.one_time(account.account_id, customer, pack_id)
        if rng.random() < 0.9:
            history.subscribe(account.account_id, customer)
    # The orders start_checkout stored when each checkout was opened.
    async with db.write() as session:
        for order in history.orders.values():
            model = "monthly" if order.pack_id == MONTHLY else "one_time"
            session.add(CheckoutOrder(
                session_id=order.session_id, provider="stripe", account_id=order.account_id,
                pack_id=order.pack_id, version="1.0.0", pricing_model=model,
                amount=PRICES[order.pack_id], currency="usd", status="open",
            ))

    reference = ReferenceLedger(history.orders)
    for item in sorted(history.events, key=lambda e: e.created):
        reference.apply(item)
    stream = deliveries(history.events, rng)
    kinds = Counter(item.kind for item in history.events)

    started = time.perf_counter()
    outcomes: list[BillingOutcome | BaseException] = []
    for chunk_start in range(0, len(stream), CONCURRENCY):
        chunk = stream[chunk_start : chunk_start + CONCURRENCY]
        bodies = [item.body for item in chunk]
        outcomes += await asyncio.gather(
            *(billing.handle_webhook(body, sign(body)) for body in bodies),
            return_exceptions=True,
        )
    elapsed = time.perf_counter() - started

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failures, failures[:3]
    applied = Counter(o.event_id for o in outcomes if isinstance(o, BillingOutcome)
                      and not o.duplicate)
    assert set(applied) == {item.event_id for item in history.events}
    assert max(applied.values()) == 1  # every event id applied exactly once
    async with db.read() as session:
        recorded = (
            await session.execute(select(func.count()).select_from(ProcessedBillingEvent))
        ).scalar_one()
    assert recorded == len(history.events)

    expected = reference.entitlements()
    assert await ledger_entitlements(db) == expected
    refused = sum(
        1 for o in outcomes if isinstance(o, BillingOutcome) and not o.duplicate
        and o.outcome.startswith("ignored")
    )
    with capsys.disabled():
        print(
            f"\nwebhook storm: {len(stream)} deliveries ({len(history.events)} events applied "
            f"once, {len(stream) - len(history.events)} duplicates, {refused} ignored), "
            f"{CUSTOMERS} customers, {len(expected)} live entitlements, {CONCURRENCY} in "
            f"flight, {elapsed:.1f} s on PostgreSQL; events: {dict(sorted(kinds.items()))}"
        )
