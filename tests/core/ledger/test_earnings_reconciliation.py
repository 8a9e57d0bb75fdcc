"""The earnings ledger reconciles with the entitlement ledger (issue 19): 500 signed Stripe
events for 20 publishers, delivered shuffled, some twice, several at a time.

Twenty publishers sell a pack each (one-time or monthly, each its own price and fee); customers
buy, pay late, get refunded in part or in full, dispute (and win or lose), subscribe and renew;
publishers' accounts are updated. Whatever the delivery order:

- every publisher's and pack's totals (gross, fee, net) are what the events say, computed here
  from the events alone, the publisher's share of a return being reversed in proportion;
- a one-time order has a sale row exactly when the entitlement ledger recorded it paid (or paid
  and refunded), and an account holds the pack exactly when one of its sales is not fully
  returned;
- each transfer is reversed at the provider (a loopback stand-in keeping Stripe's books) by
  exactly what went back on its charge;
- no event is applied twice, no movement recorded twice.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from core.ledger.accounts import AccountService
from core.ledger.catalog import CatalogService
from core.ledger.db import Database
from core.ledger.earnings import RETURN_KINDS
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingOutcome, BillingService
from core.ledger.models import (
    LIVE_STATUSES,
    CheckoutOrder,
    EarningsEntry,
    Entitlement,
    PayoutAccount,
    ProcessedBillingEvent,
)
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

PUBLISHERS = 20
CUSTOMERS = 30
EVENTS = 500
DUPLICATES = 100
CONCURRENCY = 8
SEED = 19
DAY = 86400


@dataclass(frozen=True)
class Shop:
    publisher: str
    pack_id: str
    monthly: bool
    price: int
    fee_bps: int
    account_ref: str

    @property
    def fee(self) -> int:
        return (self.price * self.fee_bps + 5000) // 10000


@dataclass
class Story:
    """The events of the market in their true order, and the orders start_checkout stored."""

    rng: random.Random
    clock: int
    events: list[tuple[str, int, str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, tuple[str, Shop]] = field(default_factory=dict)  # session -> buyer, shop
    transfers: dict[str, int] = field(default_factory=dict)  # transfer id -> amount
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def emit(self, kind: str, obj: dict[str, Any]) -> None:
        self.clock += self.rng.randint(1, 20)
        self.events.append((f"evt_rec_{next(self.ids):05d}", self.clock, kind, obj))

    def charge(self, shop: Shop, payment: str, refunded: int, *, invoice: bool) -> dict[str, Any]:
        obj = charge(payment, charge_id=f"ch_{payment}", amount=shop.price,
                     refunded_amount=refunded)
        obj.update(application_fee_amount=shop.fee, transfer=f"tr_{payment}",
                   transfer_data={"destination": shop.account_ref})
        if not invoice:  # a one-time payment's metadata is copied to its charge
            obj["metadata"] = {"pack_id": shop.pack_id}
        return obj

    def one_time(self, buyer: str, shop: Shop) -> None:
        session_id = f"cs_rec_{next(self.ids):05d}"
        self.orders[session_id] = (buyer, shop)
        payment = f"pi_{session_id}"
        self.transfers[f"tr_{payment}"] = shop.price  # the destination charge's transfer
        session = checkout_session(buyer, shop.pack_id, session_id=session_id,
                                   payment_intent=payment, amount_total=shop.price)
        if not emit_checkout_events(self.emit, self.rng, session,
                                    mismatched=0.1, asynchronous=0.25, failed=0.25):
            return
        refunded = 0
        for _ in range(self.rng.choice((0, 0, 1, 2))):  # partial refunds (cumulative)
            refunded = min(shop.price, refunded + self.rng.randint(1, shop.price // 2))
            self.emit("charge.refunded", self.charge(shop, payment, refunded, invoice=False))
        roll = self.rng.random()
        if roll < 0.25:
            self.emit("charge.refunded", self.charge(shop, payment, shop.price, invoice=False))
        elif roll < 0.4:
            self.emit("charge.dispute.closed", {
                "id": f"dp_{payment}", "object": "dispute", "amount": shop.price,
                "currency": "usd", "charge": f"ch_{payment}", "payment_intent": payment,
                "status": self.rng.choice(("won", "lost")),
            })

    def subscribe(self, buyer: str, shop: Shop) -> None:
        session_id = f"cs_rec_{next(self.ids):05d}"
        self.orders[session_id] = (buyer, shop)
        sub_id = f"sub_{session_id}"
        meta = {"account_id": buyer, "pack_id": shop.pack_id}
        end = self.clock + 30 * DAY
        self.emit("customer.subscription.created", subscription(sub_id, "active", end, **meta))
        self.emit("checkout.session.completed", checkout_session(
            buyer, shop.pack_id, session_id=session_id, mode="subscription", subscription=sub_id,
            amount_total=shop.price))
        for number in range(self.rng.randint(1, 4)):
            payment = f"pi_in_{sub_id}_{number}"
            self.transfers[f"tr_{payment}"] = shop.price
            self.emit("invoice.paid", {
                "id": f"in_{sub_id}_{number}", "object": "invoice", "amount_paid": shop.price,
                "currency": "usd", "application_fee_amount": shop.fee,
                "billing_reason": "subscription_create" if number == 0 else "subscription_cycle",
                "transfer_data": {"destination": shop.account_ref}, "payment_intent": payment,
                "parent": {"subscription_details": {"subscription": sub_id, "metadata": meta}},
            })
            end += 30 * DAY
            self.emit("customer.subscription.updated", subscription(sub_id, "active", end, **meta))
            if self.rng.random() < 0.15:  # an invoice refunded in full
                self.emit("charge.refunded", self.charge(shop, payment, shop.price, invoice=True))
        if self.rng.random() < 0.3:
            self.emit("customer.subscription.deleted",
                      subscription(sub_id, "canceled", end, **meta))


class Expected:
    """What the ledger must hold, from the events alone (their order does not matter)."""

    def __init__(self, story: Story) -> None:
        self.sales: dict[str, tuple[Shop, int, int, str | None]] = {}  # payment -> shop, gross..
        refunded: dict[str, int] = defaultdict(int)
        disputed: dict[str, int] = defaultdict(int)
        for _, _, kind, obj in story.events:
            if kind.startswith("checkout.session") and obj.get("mode") == "payment":
                buyer, shop = story.orders[obj["id"]]
                if obj["payment_status"] == "paid" and obj["amount_total"] == shop.price and (
                    kind != "checkout.session.async_payment_failed"
                ):
                    self.sales[obj["payment_intent"]] = (shop, shop.price, shop.fee, buyer)
            elif kind == "invoice.paid":
                shop = next(s for _, s in story.orders.values()
                            if s.pack_id == obj["parent"]["subscription_details"]["metadata"][
                                "pack_id"])
                self.sales[obj["payment_intent"]] = (shop, shop.price, shop.fee, None)
            elif kind == "charge.refunded":
                payment = obj["payment_intent"]
                refunded[payment] = max(refunded[payment], obj["amount_refunded"])
            elif kind == "charge.dispute.closed" and obj["status"] == "lost":
                disputed[obj["payment_intent"]] += obj["amount"]
        self.returned = {
            payment: min(gross, refunded[payment] + disputed[payment])
            for payment, (_, gross, _, _) in self.sales.items()
        }

    def totals(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(publisher, pack) -> (gross, fee, net) after returns."""
        sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for payment, (shop, gross, fee, _) in self.sales.items():
            net = gross - fee
            back = self.returned[payment]
            share_back = (net * back + gross // 2) // gross
            row = sums[(shop.publisher, shop.pack_id)]
            row[0] += gross - back
            row[2] += net - share_back
            row[1] += (gross - back) - (net - share_back)
        return {key: (a, b, c) for key, (a, b, c) in sums.items()}


@pytest.fixture
async def stripe_books():
    """A loopback Stripe that keeps the books of transfers and their reversals."""
    from aiohttp import web

    amounts: dict[str, int] = {}
    reversed_: dict[str, int] = defaultdict(int)

    async def transfer(request: web.Request) -> web.Response:
        transfer_id = request.match_info["transfer_id"]
        return web.json_response({"id": transfer_id, "object": "transfer",
                                  "amount": amounts[transfer_id],
                                  "amount_reversed": reversed_[transfer_id]})

    async def reverse(request: web.Request) -> web.Response:
        from urllib.parse import parse_qsl

        transfer_id = request.match_info["transfer_id"]
        amount = int(dict(parse_qsl(await request.text()))["amount"])
        assert reversed_[transfer_id] + amount <= amounts[transfer_id], "over-reversed"
        reversed_[transfer_id] += amount
        return web.json_response({"id": f"trr_{transfer_id}_{reversed_[transfer_id]}",
                                  "object": "transfer_reversal"})

    async def charge_of(request: web.Request) -> web.Response:  # ch_<payment> -> tr_<payment>
        charge_id = request.match_info["charge_id"]
        return web.json_response({"id": charge_id, "object": "charge",
                                  "transfer": "tr_" + charge_id.removeprefix("ch_")})

    app = web.Application()
    app.router.add_get("/v1/charges/{charge_id}", charge_of)
    app.router.add_get("/v1/transfers/{transfer_id}", transfer)
    app.router.add_post("/v1/transfers/{transfer_id}/reversals", reverse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", amounts, reversed_
    await runner.cleanup()


async def build_market(db: Database, rng: random.Random) -> tuple[list[Shop], list[str]]:
    accounts, catalog = AccountService(db), CatalogService(db)
    shops = []
    for n in range(PUBLISHERS):
        publisher, _ = await accounts.create_account(f"publisher {n}", "publisher")
        shop = Shop(publisher.account_id, f"pack-{n:02d}", monthly=n % 3 == 0,
                    price=rng.randrange(300, 3000, 10), fee_bps=rng.randrange(500, 3000, 50),
                    account_ref=f"acct_rec_{n:02d}")
        manifest = make_manifest(shop.pack_id, model="monthly" if shop.monthly else "one_time",
                                 amount=shop.price, publisher=f"publisher {n}")
        await catalog.submit_version(shop.publisher, manifest, "/nowhere.kpack")
        await catalog.approve(shop.pack_id, "1.0.0", admin_account_id="ops")
        shops.append(shop)
    async with db.write() as session:
        for shop in shops:
            session.add(PayoutAccount(account_id=shop.publisher, provider="stripe",
                                      account_ref=shop.account_ref, details_submitted=True,
                                      charges_enabled=True, payouts_enabled=True))
    customers = [
        (await accounts.create_account(f"customer {n}", "customer"))[0].account_id
        for n in range(CUSTOMERS)
    ]
    return shops, customers


def tell(rng: random.Random, shops: list[Shop], customers: list[str]) -> Story:
    story = Story(rng, int(time.time()) - 20 * DAY)
    while len(story.events) < EVENTS:
        shop, buyer = rng.choice(shops), rng.choice(customers)
        if rng.random() < 0.1:  # the publisher's account changes: applied in event order
            story.emit("account.updated", {"id": shop.account_ref, "object": "account",
                                           "details_submitted": True, "charges_enabled": True,
                                           "payouts_enabled": True})
        elif shop.monthly:
            story.subscribe(buyer, shop)
        else:
            story.one_time(buyer, shop)
    del story.events[EVENTS:]  # a history cut short is still a history
    return story


async def test_earnings_reconcile_with_entitlements_under_shuffled_delivery(
    db: Database, settings, stripe_books, capsys: pytest.CaptureFixture[str]
) -> None:
    base, transfer_amounts, reversed_at_stripe = stripe_books
    settings.stripe_api_key = SecretStr("sk_test_packdesk_fake")
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.stripe_api_base = base
    db.settings = settings
    rng = random.Random(SEED)
    shops, customers = await build_market(db, rng)
    story = tell(rng, shops, customers)
    transfer_amounts.update(story.transfers)
    async with db.write() as session:  # the orders start_checkout stored (destination charges)
        for session_id, (buyer, shop) in story.orders.items():
            session.add(CheckoutOrder(
                session_id=session_id, provider="stripe", account_id=buyer, pack_id=shop.pack_id,
                version="1.0.0", pricing_model="monthly" if shop.monthly else "one_time",
                amount=shop.price, currency="usd", status="open",
                publisher_account_id=shop.publisher, destination_ref=shop.account_ref,
                application_fee=shop.fee, fee_bps=shop.fee_bps,
            ))
    catalog = CatalogService(db)
    billing = BillingService(
        db, StripeBilling(settings), catalog=catalog, entitlements=EntitlementService(db)
    )

    bodies = {
        evt: event(kind, obj, event_id=evt, created=at) for evt, at, kind, obj in story.events
    }
    stream = list(bodies) + rng.choices(list(bodies), k=DUPLICATES)
    rng.shuffle(stream)
    started = time.perf_counter()
    outcomes: list[Any] = []
    for chunk in range(0, len(stream), CONCURRENCY):
        payloads = [bodies[evt] for evt in stream[chunk : chunk + CONCURRENCY]]
        outcomes += await asyncio.gather(
            *(billing.handle_webhook(p, sign(p)) for p in payloads), return_exceptions=True
        )
    elapsed = time.perf_counter() - started
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failures, failures[:3]
    applied = [o.event_id for o in outcomes if isinstance(o, BillingOutcome) and not o.duplicate]
    assert sorted(applied) == sorted(bodies)  # each of the 500 events applied exactly once

    expected = Expected(story)
    async with db.read() as session:
        rows = list((await session.execute(select(EarningsEntry))).scalars())
        orders = {o.session_id: o for o in (await session.execute(select(CheckoutOrder))).scalars()}
        live = {
            (row.account_id, row.pack_id)
            for row in (await session.execute(
                select(Entitlement).where(Entitlement.status.in_(LIVE_STATUSES)))).scalars()
        }
        recorded = (await session.execute(
            select(func.count()).select_from(ProcessedBillingEvent))).scalar_one()
    assert recorded == EVENTS

    # 1. Totals per publisher and pack: what the events say.
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        owner = next(s for s in shops if s.pack_id == row.pack_id)
        assert row.publisher_account_id == owner.publisher  # money goes to the pack's publisher
        assert row.gross == row.fee + row.net
        for index, value in enumerate((row.gross, row.fee, row.net)):
            totals[(row.publisher_account_id, row.pack_id)][index] += value
    assert {key: tuple(value) for key, value in totals.items()} == expected.totals()

    # 2. One sale row per paid payment; sales agree with the entitlement ledger's orders.
    sales = [row for row in rows if row.kind not in RETURN_KINDS]
    assert len({row.payment_ref for row in sales}) == len(sales) == len(expected.sales)
    one_time_sales = [row for row in sales if row.invoice_ref is None]
    sold_orders = {row.order_ref for row in one_time_sales}
    paid_orders = {
        session_id for session_id, order in orders.items()
        if order.pricing_model == "one_time" and order.status in ("paid", "refunded")
    }
    assert sold_orders == paid_orders
    returned: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.kind in RETURN_KINDS:
            returned[row.payment_ref] -= row.gross
    assert dict(returned) == {p: r for p, r in expected.returned.items() if r}
    holders = {
        (row.customer_account_id, row.pack_id) for row in one_time_sales
        if returned[row.payment_ref] < row.gross
    }
    one_time_live = {(a, p) for a, p in live if not next(
        s for s in shops if s.pack_id == p).monthly}
    assert one_time_live == holders

    # 3. Stripe's books: each transfer reversed by exactly what went back on its charge.
    await billing.settle_reversals()  # what a concurrent delivery left pending, if anything
    assert {t: a for t, a in reversed_at_stripe.items() if a} == {
        f"tr_{payment}": amount for payment, amount in expected.returned.items() if amount
    }

    kinds = defaultdict(int)
    for _, _, kind, _ in story.events:
        kinds[kind] += 1
    with capsys.disabled():
        print(
            f"\nearnings reconciliation: {len(stream)} deliveries of {EVENTS} events "
            f"({DUPLICATES} duplicates), {PUBLISHERS} publishers, {len(rows)} earnings rows, "
            f"{len(expected.sales)} sales, {sum(1 for r in expected.returned.values() if r)} "
            f"returned, {len(live)} live entitlements, {elapsed:.1f} s on {db.dialect}; "
            f"events: {dict(sorted(kinds.items()))}"
        )
