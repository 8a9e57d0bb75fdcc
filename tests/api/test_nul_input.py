"""A NUL character in a path parameter or an id is refused (422) before any query: PostgreSQL
text cannot hold one, so it used to surface as a 500 there (found by the API fuzzer)."""

from __future__ import annotations

from tests.api.conftest import bearer


def test_nul_in_a_path_parameter_is_422(client, accounts) -> None:  # type: ignore[no-untyped-def]
    public = client.get("/v1/billing/local/checkout/0%00")
    assert public.status_code == 422
    assert public.json()["type"].endswith("/invalid-input")
    customer = bearer(accounts.create("customer"))
    mine = client.get("/v1/conversations/conv_%00", headers=customer)
    assert mine.status_code == 422


def test_nul_in_a_conversation_id_is_422(client, accounts) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    response = client.post(
        "/v1/ask", json={"question": "hello", "conversation_id": "conv_\u0000"}, headers=customer
    )
    assert response.status_code == 422
