"""Stripe-shaped events signed the way Stripe signs them (HMAC-SHA256 over ``t.payload``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

WEBHOOK_SECRET = "whsec_test_packdesk"
API_VERSION = "2026-10-28.endive"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={mac}"


def event(
    kind: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> bytes:
    """A Stripe event around ``obj``; ``created`` (epoch seconds) is when Stripe made it."""
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created,
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }
    ).encode()


def checkout_session(
    account_id: str,
    pack_id: str,
    *,
    session_id: str = "cs_test_1",
    mode: str = "payment",
    payment_status: str = "paid",
    payment_intent: str | None = "pi_1",
    subscription: str | None = None,
    customer: str = "cus_1",
    amount_total: int | None = None,
    currency: str = "usd",
    version: str = "1.0.0",
    price_id: str | None = None,
) -> dict[str, Any]:
    """A completed Checkout Session with the metadata PackDesk sets (amount: the test catalog's
    price, 1500 one-time or 900 monthly, unless given)."""
    metadata = {
        "account_id": account_id,
        "pack_id": pack_id,
        "version": version,
        "price_lookup_key": f"packdesk:{pack_id}:{version}",
    }
    if price_id is not None:
        metadata["price_id"] = price_id
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": mode,
        "status": "complete",
        "payment_status": payment_status,
        "payment_intent": payment_intent if mode == "payment" else None,
        "subscription": subscription,
        "customer": customer,
        "client_reference_id": account_id,
        "amount_total": (900 if mode == "subscription" else 1500)
        if amount_total is None
        else amount_total,
        "currency": currency,
        "metadata": metadata,
    }


def charge(
    payment_intent: str | None,
    *,
    charge_id: str = "ch_1",
    amount: int = 1500,
    refunded_amount: int | None = None,
    customer: str = "cus_1",
) -> dict[str, Any]:
    """A refunded charge of ``payment_intent``: fully unless ``refunded_amount`` is less."""
    refunded = amount if refunded_amount is None else refunded_amount
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "refunded": refunded >= amount,
        "currency": "usd",
        "payment_intent": payment_intent,
        "customer": customer,
    }


def subscription(
    sub_id: str, status: str, period_end: int, *, customer: str = "cus_1", **metadata: str
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "customer": customer,
        "metadata": metadata,
        "items": {
            "object": "list",
            "data": [
                {"id": "si_1", "object": "subscription_item", "current_period_end": period_end}
            ],
        },
    }


def emit_checkout_events(
    emit: Callable[[str, dict[str, Any]], None],
    rng: random.Random,
    session: dict[str, Any],
    *,
    mismatched: float,
    asynchronous: float,
    failed: float,
) -> bool:
    """The events a checkout session produces, drawn with these probabilities: sometimes a
    session unlike its order first (never grants), then either a completed session or an
    asynchronous payment method (an unpaid completion, then success, or failure with
    probability ``failed``). Returns whether the payment succeeded."""
    if rng.random() < mismatched:  # a session unlike its order: never grants
        emit("checkout.session.completed", {**session, "amount_total": 1})
    if rng.random() < asynchronous:
        emit("checkout.session.completed", {**session, "payment_status": "unpaid"})
        if rng.random() < failed:
            emit("checkout.session.async_payment_failed", {**session, "payment_status": "unpaid"})
            return False
        emit("checkout.session.async_payment_succeeded", session)
    else:
        emit("checkout.session.completed", session)
    return True
