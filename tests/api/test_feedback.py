"""Feedback on answers and handoff resolutions through the HTTP API: auth, ownership,
redaction, bounds, deletion and retention (issue 18, points 1-2)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from core.ledger.common import utcnow_
from core.settings import Settings
from tests.api.conftest import bearer

EMAIL = "jane.doe@example.com"


def ask(client: TestClient, key: str, question: str) -> dict[str, Any]:
    response = client.post("/v1/ask", json={"question": question}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def feedback_path(answer: dict[str, Any]) -> str:
    return f"/v1/conversations/{answer['conversation_id']}/turns/{answer['turn_id']}/feedback"


def labelled(client: TestClient) -> list[Any]:
    services = client.app.state.services
    return client.blocking_portal.call(services.feedback.labelled_turns)


def test_feedback_and_resolution_need_a_customer_key(client: TestClient, accounts) -> None:
    customer = accounts.create("customer")
    answer = ask(client, customer, "how do I reset my password?")
    for headers in ({}, bearer(accounts.create("publisher")), bearer(accounts.create("admin"))):
        for method, path, body in (
            ("post", feedback_path(answer), {"helpful": True}),
            ("post", f"/v1/handoffs/{answer['turn_id']}/resolve", {"intent": "platform:greeting"}),
            ("get", "/v1/handoffs/open", None),
        ):
            response = client.request(method.upper(), path, json=body, headers=headers)
            assert response.status_code == (401 if not headers else 403), (path, response.text)
    assert labelled(client) == []


def test_feedback_is_stored_redacted_and_a_second_one_replaces_it(
    client: TestClient, accounts, api_settings: Settings
) -> None:
    key = accounts.create("customer")
    answer = ask(client, key, "how do I reset my password?")
    response = client.post(feedback_path(answer), headers=bearer(key), json={
        "helpful": False, "correct_intent": "platform:human_agent",
        "comment": f"wrong answer, write to {EMAIL}",
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["comment"] == "wrong answer, write to [EMAIL]"
    assert (body["turn_id"], body["conversation_id"]) == (answer["turn_id"],
                                                          answer["conversation_id"])
    assert [(t.turn_id, t.label, t.kind) for t in labelled(client)] == [
        (answer["turn_id"], "platform:human_agent", "correction")]

    again = client.post(feedback_path(answer), headers=bearer(key), json={"helpful": False})
    assert again.status_code == 200 and again.json()["correct_intent"] is None
    assert labelled(client) == []  # unhelpful without an intent labels nothing

    # Nothing of the comment is readable at rest: not the address, not even the redacted text.
    raw = sqlite3.connect(api_settings.data_dir / "packdesk.db")
    rows = raw.execute("SELECT comment_token FROM turn_feedback").fetchall()
    raw.close()
    assert rows == [(None,)]
    for path in api_settings.data_dir.rglob("*"):
        if path.is_file():
            assert EMAIL.encode() not in path.read_bytes(), path


def test_another_accounts_turn_is_not_found(client: TestClient, accounts) -> None:
    owner, other = accounts.create("customer"), accounts.create("customer")
    answer = ask(client, owner, "I want to talk to a human")
    mine = ask(client, other, "hello")
    for key, path in (
        (other, feedback_path(answer)),
        (owner, f"/v1/conversations/{mine['conversation_id']}/turns/{answer['turn_id']}/feedback"),
        (owner, f"/v1/conversations/{answer['conversation_id']}/turns/999999/feedback"),
        (owner, f"/v1/conversations/{answer['conversation_id']}/turns/-1/feedback"),
        (owner, f"/v1/conversations/{answer['conversation_id']}/turns/{2**70}/feedback"),
        (owner, f"/v1/conversations/{answer['conversation_id']}/turns/1e3/feedback"),
        (owner, f"/v1/conversations/{answer['conversation_id']}/turns/%EF%BC%91/feedback"),
    ):
        response = client.post(path, headers=bearer(key), json={"helpful": True})
        assert response.status_code == 404, (path, response.text)
        assert response.json()["type"].endswith("/not-found")
    for key, handoff in ((other, answer["turn_id"]), (owner, mine["turn_id"]), (owner, 2**40)):
        response = client.post(f"/v1/handoffs/{handoff}/resolve", headers=bearer(key),
                               json={"intent": "platform:human_agent"})
        assert response.status_code == 404, response.text
    assert labelled(client) == []


@pytest.mark.parametrize("body, fragment", [
    ({"helpful": "yes"}, "helpful"),
    ({}, "helpful"),
    ({"helpful": True, "extra": 1}, "extra"),
    ({"helpful": True, "correct_intent": "not a label"}, "not a label"),
    ({"helpful": True, "correct_intent": "nopack:thing"}, "not served"),
    ({"helpful": True, "correct_intent": "finance:Bad Name"}, "not a label"),
    ({"helpful": True, "correct_intent": "x" * 161}, "correct_intent"),
    ({"helpful": True, "comment": "y" * 2001}, "comment"),
    ({"helpful": True, "comment": "nul \x00 inside"}, "NUL"),
])
def test_bad_feedback_is_refused_and_stores_nothing(
    client: TestClient, accounts, body: dict[str, Any], fragment: str
) -> None:
    key = accounts.create("customer")
    answer = ask(client, key, "hello")
    response = client.post(feedback_path(answer), headers=bearer(key), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/invalid-input")
    assert fragment in response.text
    assert labelled(client) == []


def test_handoffs_are_resolved_into_labelled_examples(client: TestClient, accounts) -> None:
    key = accounts.create("customer")
    handed = ask(client, key, "I want to talk to a human")
    plain = ask(client, key, "hello there")
    assert handed["handoff"]["handoff"] and not plain["handoff"]["handoff"]
    open_ = client.get("/v1/handoffs/open", headers=bearer(key)).json()
    assert [turn["turn_id"] for turn in open_] == [handed["turn_id"]]

    not_handed_off = client.post(f"/v1/handoffs/{plain['turn_id']}/resolve", headers=bearer(key),
                                 json={"intent": "platform:greeting"})
    assert not_handed_off.status_code == 404
    bad = client.post(f"/v1/handoffs/{handed['turn_id']}/resolve", headers=bearer(key),
                      json={"intent": "platform:Nope!"})
    assert bad.status_code == 422

    resolved = client.post(f"/v1/handoffs/{handed['turn_id']}/resolve", headers=bearer(key),
                           json={"intent": "platform:human_agent", "note": f"mail {EMAIL}"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["note"] == "mail [EMAIL]"
    assert client.get("/v1/handoffs/open", headers=bearer(key)).json() == []
    # Resolving again corrects the label; still one example, traceable to its turn.
    client.post(f"/v1/handoffs/{handed['turn_id']}/resolve", headers=bearer(key),
                json={"intent": "platform:complaint"})
    assert [(t.turn_id, t.label, t.kind, t.text) for t in labelled(client)] == [
        (handed["turn_id"], "platform:complaint", "resolution", "I want to talk to a human")]


def test_deleting_my_data_and_retention_delete_what_was_learned(
    client: TestClient, accounts
) -> None:
    erased, kept = accounts.create("customer"), accounts.create("customer")
    for key in (erased, kept):
        answer = ask(client, key, "I want to talk to a human")
        client.post(feedback_path(answer), headers=bearer(key),
                    json={"helpful": False, "correct_intent": "platform:complaint"})
        client.post(f"/v1/handoffs/{answer['turn_id']}/resolve", headers=bearer(key),
                    json={"intent": "platform:human_agent"})
    assert len(labelled(client)) == 4
    assert client.delete("/v1/me/data", headers=bearer(erased)).status_code == 200
    assert len(labelled(client)) == 2

    services = client.app.state.services
    client.blocking_portal.call(services.conversations.purge_expired,
                                utcnow_() + timedelta(days=31))
    assert labelled(client) == []
