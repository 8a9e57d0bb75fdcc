"""No route returns text of a pack the caller has not bought and activated."""

from __future__ import annotations

import re

from tests.api.conftest import bearer

LOCKED = ("finance", "legal")


def _sentences(documents: list[dict]) -> set[str]:
    found = set()
    for document in documents:
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", document["text"]):
            if len(sentence.strip()) >= 40:
                found.add(sentence.strip())
    return found


def test_locked_pack_text_never_leaves_the_server(client, accounts, built_packs) -> None:
    customer = bearer(accounts.create("customer"))
    locked_text = set().union(*(_sentences(built_packs.documents[p]) for p in LOCKED))
    questions = [
        question
        for pack_id in LOCKED
        for document in built_packs.documents[pack_id][:8]
        for question in document["metadata"]["eval_questions"][:1]
    ]
    bodies: list[str] = []
    conversation_id = None
    for question in questions:
        answer = client.post(
            "/v1/ask",
            json={"question": question, "conversation_id": conversation_id},
            headers=customer,
        )
        assert answer.status_code == 200, answer.text
        conversation_id = answer.json()["conversation_id"]
        bodies.append(answer.text)
        assert all(c["pack_id"] not in LOCKED for c in answer.json()["citations"])
        streamed = client.post(
            "/v1/ask", json={"question": question, "stream": True}, headers=customer
        )
        bodies.append(streamed.text)
        search = client.post("/v1/search", json={"query": question, "top_k": 10}, headers=customer)
        bodies.append(search.text)
        assert all(hit["pack_id"] not in LOCKED for hit in search.json())
    offers = [b for b in bodies if '"offer":{"pack_id":"finance"' in b.replace(" ", "")]
    assert offers, "questions aimed at the finance pack should at least get an offer"
    for path in (
        "/v1/packs",
        "/v1/packs/finance",
        "/v1/packs/legal",
        "/v1/entitlements",
        f"/v1/conversations/{conversation_id}",
        "/v1/handoffs",
    ):
        bodies.append(client.get(path, headers=customer).text)
    leaked = [s for s in locked_text for body in bodies if s in body]
    assert leaked == []
