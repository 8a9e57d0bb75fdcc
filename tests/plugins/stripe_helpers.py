"""Stripe-shaped events signed the way Stripe signs them (HMAC-SHA256 over ``t.payload``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

WEBHOOK_SECRET = "whsec_test_packdesk"
API_VERSION = "2026-10-28.endive"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={mac}"


def event(kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
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
) -> dict[str, Any]:
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
        "amount_total": 1500,
        "currency": "usd",
        "metadata": {"account_id": account_id, "pack_id": pack_id, "version": "1.0.0"},
    }


def subscription(sub_id: str, status: str, period_end: int, **metadata: str) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "customer": "cus_1",
        "metadata": metadata,
        "items": {
            "object": "list",
            "data": [
                {"id": "si_1", "object": "subscription_item", "current_period_end": period_end}
            ],
        },
    }
