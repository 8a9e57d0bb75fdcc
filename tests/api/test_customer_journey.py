"""The whole customer journey through the HTTP API, with the local billing provider."""

from __future__ import annotations

import re

from tests.api.conftest import bearer


def _finance_question(built_packs) -> tuple[str, str]:
    document = built_packs.documents["finance"][0]
    return document["metadata"]["eval_questions"][0], document["text"]


def _leaks(body_text: str, documents: list[dict]) -> list[str]:
    """Sentences of ``documents`` that appear in a response body."""
    leaked = []
    for document in documents:
        for sentence in re.split(r"(?<=[.!?])\s+", document["text"]):
            if len(sentence) > 40 and sentence in body_text:
                leaked.append(sentence)
    return leaked


def test_catalog_lists_the_packs_with_prices(client) -> None:
    response = client.get("/v1/packs")
    assert response.status_code == 200
    packs = {pack["id"]: pack for pack in response.json()}
    assert set(packs) == {"finance", "legal", "support-basics"}
    assert packs["finance"]["price"] == {"model": "one_time", "amount": 1900, "currency": "usd"}
    assert packs["support-basics"]["price"]["model"] == "free"
    assert client.get("/v1/packs/finance").json()["name"] == packs["finance"]["name"]
    assert client.get("/v1/packs/nope").status_code == 404


def test_buy_activate_ask_deactivate(client, accounts, built_packs) -> None:
    customer = bearer(accounts.create("customer"))
    question, _ = _finance_question(built_packs)
    finance_docs = built_packs.documents["finance"]

    before = client.post("/v1/ask", json={"question": question}, headers=customer)
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["offer"]["pack_id"] == "finance"
    assert body["offer"]["owned"] is False
    assert body["citations"] == []
    assert _leaks(before.text, finance_docs) == []

    checkout = client.post("/v1/checkout", json={"pack_id": "finance"}, headers=customer)
    assert checkout.status_code == 201, checkout.text
    session_id = checkout.json()["session_id"]
    checkout_path = checkout.json()["checkout_url"].removeprefix("http://testserver.local")
    page = client.get(checkout_path)
    assert page.status_code == 200 and "TEST MODE" in page.text
    confirmed = client.post(checkout_path, follow_redirects=False)
    assert confirmed.status_code == 303
    assert "You now own" in client.get(confirmed.headers["location"]).text

    owned = {e["pack_id"]: e for e in client.get("/v1/entitlements", headers=customer).json()}
    assert owned["finance"]["readable"] is True
    assert session_id

    activated = client.post("/v1/packs/finance/activate", headers=customer)
    assert activated.status_code == 200
    after = client.post("/v1/ask", json={"question": question}, headers=customer).json()
    assert after["offer"] is None
    assert after["citations"], after
    assert {c["pack_id"] for c in after["citations"]} == {"finance"}
    assert after["intent"]["label"]
    assert "handoff" in after

    assert client.post("/v1/packs/finance/deactivate", headers=customer).status_code == 200
    again = client.post("/v1/ask", json={"question": question}, headers=customer)
    assert again.json()["citations"] == [] or all(
        c["pack_id"] != "finance" for c in again.json()["citations"]
    )
    assert _leaks(again.text, finance_docs) == []
    still_owned = {e["pack_id"] for e in client.get("/v1/entitlements", headers=customer).json()}
    assert "finance" in still_owned  # deactivation never deletes the entitlement


def test_search_covers_only_active_packs(client, accounts, built_packs) -> None:
    customer = bearer(accounts.create("customer"))
    question, _ = _finance_question(built_packs)
    response = client.post("/v1/search", json={"query": question, "top_k": 5}, headers=customer)
    assert response.status_code == 200
    assert all(hit["pack_id"] == "support-basics" for hit in response.json())


def test_streaming_sends_intent_pieces_citations_done(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    with client.stream(
        "POST", "/v1/ask", json={"question": "hello there!", "stream": True}, headers=customer
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            line.split(":", 1)[1].strip()
            for line in response.iter_lines()
            if line.startswith("event:")
        ]
    assert events[0] == "intent"
    assert "answer" in events
    assert events[-2:] == ["citations", "done"]


def _billing_ledger(client) -> tuple[int, int]:
    """(billing events recorded, entitlement grants in the audit log) of the running app."""
    from sqlalchemy import func, select

    from core.ledger.models import AuditEntry, ProcessedBillingEvent

    db = client.app.state.services.billing.db

    async def count() -> tuple[int, int]:
        async with db.read() as session:
            events = await session.execute(select(func.count()).select_from(ProcessedBillingEvent))
            grants = await session.execute(
                select(func.count()).where(AuditEntry.action == "entitlement.granted")
            )
            return events.scalar_one(), grants.scalar_one()

    return client.blocking_portal.call(count)


def test_local_checkout_confirmed_twice_grants_once(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    checkout = client.post("/v1/checkout", json={"pack_id": "finance"}, headers=customer)
    assert checkout.status_code == 201, checkout.text
    checkout_path = checkout.json()["checkout_url"].removeprefix("http://testserver.local")
    for _ in range(2):
        confirmed = client.post(checkout_path, follow_redirects=False)
        assert confirmed.status_code == 303, confirmed.text
    assert _billing_ledger(client) == (1, 1)
    owned = {e["pack_id"]: e for e in client.get("/v1/entitlements", headers=customer).json()}
    assert owned["finance"]["readable"] is True
    again = client.post("/v1/checkout", json={"pack_id": "finance"}, headers=customer)
    assert again.status_code == 409


def test_confirming_an_unknown_local_checkout_is_404_and_grants_nothing(client) -> None:
    response = client.post("/v1/billing/local/checkout/lcs_test_forged", follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")
    assert _billing_ledger(client) == (0, 0)


def test_a_webhook_to_the_local_provider_is_refused_and_changes_nothing(client) -> None:
    response = client.post(
        "/v1/billing/stripe/webhook",
        content=b'{"id": "evt_1", "type": "checkout.session.completed"}',
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    # The endpoint exists only when Stripe is configured: a client error, never a 5xx.
    assert response.status_code == 404
    problem = response.json()
    assert problem["type"] == "https://packdesk.dev/problems/not-found"
    assert "Stripe billing is not configured" in problem["detail"]
    assert _billing_ledger(client) == (0, 0)
