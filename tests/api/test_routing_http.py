"""Routing through the HTTP API: out of scope gets a polite reply and no offer; a domain
question from a customer without the pack gets the offer; a generic one stays free."""

from __future__ import annotations

from tests.api.conftest import bearer


def test_an_out_of_scope_question_gets_a_polite_reply_and_no_offer(client, accounts) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    body = client.post(
        "/v1/ask", json={"question": "What should I name my new goldfish?"}, headers=customer
    ).json()
    assert body["out_of_scope"] is True and body["offer"] is None
    assert body["routed_pack_id"] is None and body["citations"] == []
    assert body["text"].startswith("Sorry") and "I can answer questions about" in body["text"]


def test_a_finance_question_from_a_free_customer_gets_the_finance_offer(
    client, accounts, built_packs
) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    question = built_packs.documents["finance"][0]["metadata"]["eval_questions"][0]
    body = client.post("/v1/ask", json={"question": question}, headers=customer).json()
    assert body["offer"] is not None and body["offer"]["pack_id"] == "finance", body
    assert body["citations"] == []
