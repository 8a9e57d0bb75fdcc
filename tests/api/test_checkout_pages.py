"""The pages Stripe Checkout sends a buyer back to exist, are public and grant nothing."""

from __future__ import annotations


def test_success_and_cancel_pages(client) -> None:  # type: ignore[no-untyped-def]
    success = client.get("/v1/billing/success", params={"session_id": "cs_test_123"})
    assert success.status_code == 200
    assert success.headers["content-type"].startswith("text/html")
    assert "Payment received" in success.text and "cs_test_123" not in success.text
    cancel = client.get("/v1/billing/cancel", params={"pack_id": "finance<script>"})
    assert cancel.status_code == 200
    assert "Purchase cancelled" in cancel.text and "<script>" not in cancel.text
