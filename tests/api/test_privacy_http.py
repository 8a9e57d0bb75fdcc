"""Issue 7 through the HTTP API: redaction before logs and storage, conversations, sentiment,
handoff reasons, retention, deletion, isolation and encryption at rest.

The "nothing leaks" checks look everywhere the app writes: every log record at every level
(caplog on the root logger at DEBUG), the raw rows of the SQLite database, and the raw bytes of
every file under the data directory (database, WAL, keys, installed packs).

The app runs with the session's real small intent model, except that the few messages in
``SCRIPT`` get a fixed intent: the handoff tests need ``platform:human_agent`` or
``platform:complaint`` for sure, and a small model trained in seconds does not promise that.
The handoff rules themselves are unit-tested in tests/core/privacy.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from core.intents.classifier import Prediction
from core.ledger.common import utcnow_
from core.settings import Settings
from tests.api.conftest import DOCS_PER_PACK, bearer, install_built_packs

# One value per personal-data kind, with every spelling it could leak in.
PERSONAL_DATA = {
    "EMAIL": ("jane.doe@example.com", ["jane.doe@example.com", "jane.doe"]),
    "PHONE": ("+44 7911 123456", ["+44 7911 123456", "7911 123456", "7911123456"]),
    "CARD": ("4111 1111 1111 1111", ["4111 1111 1111 1111", "4111111111111111"]),
    "IBAN": ("GB82 WEST 1234 5698 7654 32", ["GB82 WEST 1234 5698 7654 32",
                                              "GB82WEST12345698765432", "5698 7654"]),
    "SSN": ("536-22-8726", ["536-22-8726", "536228726"]),
    "IP": ("203.0.113.42", ["203.0.113.42"]),
}
MESSAGES = {
    "EMAIL": "Please send the refund confirmation to {} today.",
    "PHONE": "My package never arrived, call me back on {} please.",
    "CARD": "I was charged twice on my card {} for the same order.",
    "IBAN": "Can you refund me by bank transfer to {} instead?",
    "SSN": "For the tax form, my social security number is {}.",
    "IP": "I cannot log in to my account from {} since yesterday.",
}
# Phrased like the intents' training examples, so the small session classifier gets them right.
HUMAN_AGENT = "I want to talk to a human"
COMPLAINT = "I want to file a complaint"
NEGATIVE = "Cancel my order now, this is awful, I am furious and miserable"  # VADER ~ -0.9
OFF_TOPIC = ("what's the weather like tomorrow", "who painted the mona lisa")
GREETING = "hello there!"
SCRIPT = {
    HUMAN_AGENT: ("platform:human_agent", 0.97),
    COMPLAINT: ("platform:complaint", 0.95),
    NEGATIVE: ("support-basics:cancel_order", 0.93),  # confident and in scope: only mood hands off
    OFF_TOPIC[0]: ("out_of_scope", 0.2),
    OFF_TOPIC[1]: ("out_of_scope", 0.15),
    GREETING: ("platform:greeting", 0.96),
}


class ScriptedClassifier:
    """The real classifier, except for the messages in ``SCRIPT``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def predict(self, texts: list[str], top_k: int = 3) -> list[Prediction]:
        # The serving holder (core.intents.hot_swap) passes top_k, as to the real classifier.
        out = []
        for text in texts:
            if text in SCRIPT:
                label, confidence = SCRIPT[text]
                pack = label.split(":")[0]
                pack_id = None if pack in ("platform", "out_of_scope") else pack
                out.append(Prediction(label, pack_id, confidence, [(label, confidence)]))
            else:
                out.extend(self._inner.predict([text], top_k=top_k))
        return out


@pytest.fixture
def client(
    api_settings: Settings, built_packs, shared_embedder, small_classifier
) -> Iterator[TestClient]:
    """The app over the session's packs, with the scripted intents above."""
    from api.app import create_app

    install_built_packs(api_settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        api_settings,
        start_options={
            "embedder": shared_embedder,
            "classifier": ScriptedClassifier(small_classifier),
        },
    )
    with TestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client


def everything_stored(data_dir: Path) -> bytes:
    """The raw bytes of every file under the data directory (SQLite file, WAL, keys, packs)."""
    return b"\n".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def raw_rows(data_dir: Path) -> list[tuple]:
    """Every row of every table, read with plain sqlite3 (bypassing the app and its cipher)."""
    database = next(data_dir.rglob("*.db"))
    with sqlite3.connect(database) as connection:
        query = "SELECT name FROM sqlite_master WHERE type='table'"
        tables = [r[0] for r in connection.execute(query)]
        return [row for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')]


def ask(client, headers, question: str, conversation_id: str | None = None) -> dict:
    payload = {"question": question}
    if conversation_id is not None:
        payload["conversation_id"] = conversation_id
    response = client.post("/v1/ask", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("kind", list(PERSONAL_DATA))
def test_personal_data_reaches_no_log_row_or_file(
    kind, client, accounts, api_settings: Settings, caplog
) -> None:
    value, spellings = PERSONAL_DATA[kind]
    customer = bearer(accounts.create("customer"))
    caplog.set_level(logging.DEBUG)

    body = ask(client, customer, MESSAGES[kind].format(value))
    history = client.get(f"/v1/conversations/{body['conversation_id']}", headers=customer).json()

    # The customer's stored history shows the placeholder where the value was.
    assert history["turns"][0]["question"] == MESSAGES[kind].format(f"[{kind}]")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"[{kind}]" in logged  # the ask was logged, redacted
    stored = everything_stored(api_settings.data_dir)
    rows = repr(raw_rows(api_settings.data_dir))
    for spelling in spellings:
        assert spelling not in logged
        assert spelling not in caplog.text
        assert spelling.encode() not in stored
        assert spelling not in rows


def test_one_message_full_of_personal_data(client, accounts, api_settings, caplog) -> None:
    customer = bearer(accounts.create("customer"))
    caplog.set_level(logging.DEBUG)
    message = (
        "Hi, I'm angry: card 4111 1111 1111 1111 was charged, refund to IBAN "
        "GB82 WEST 1234 5698 7654 32, mail jane.doe@example.com or phone +44 7911 123456; "
        "SSN 536-22-8726, I logged in from 203.0.113.42."
    )
    body = ask(client, customer, message)
    turn = client.get(f"/v1/conversations/{body['conversation_id']}", headers=customer).json()
    question = turn["turns"][0]["question"]
    for kind in PERSONAL_DATA:
        assert f"[{kind}]" in question
    stored = everything_stored(api_settings.data_dir)
    for _, spellings in PERSONAL_DATA.values():
        for spelling in spellings:
            assert spelling not in caplog.text and spelling.encode() not in stored


def test_conversation_text_is_encrypted_at_rest(client, accounts, api_settings) -> None:
    customer = bearer(accounts.create("customer"))
    question = "does the purple elephant plan cover overdraft fees?"
    body = ask(client, customer, question)

    database = next(api_settings.data_dir.rglob("*.db"))
    with sqlite3.connect(database) as connection:
        tokens = connection.execute(
            "SELECT question_token, answer_token FROM conversation_turns"
        ).fetchall()
    assert len(tokens) == 1
    for token in tokens[0]:
        assert token.startswith("gAAAAA")  # Fernet
        assert "purple elephant" not in token
    # Not even the redacted text, nor the answer, is anywhere in the files as plaintext.
    stored = everything_stored(api_settings.data_dir)
    assert b"purple elephant" not in stored
    assert body["text"][:60].encode() not in stored
    key_file = api_settings.keys_dir / "conversations.key"
    assert key_file.stat().st_mode & 0o077 == 0


def test_answer_carries_sentiment_handoff_and_a_new_conversation(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    body = ask(client, customer, "hello there, thanks so much, you are great!")
    assert body["conversation_id"].startswith("conv_")
    assert body["sentiment"]["label"] == "positive" and body["sentiment"]["compound"] > 0.5
    assert body["handoff"] == {"handoff": False, "reason": None}
    other = ask(client, customer, "hello again")
    assert other["conversation_id"] != body["conversation_id"]  # no id: a new conversation


def test_follow_up_joins_the_conversation(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    first = ask(client, customer, GREETING)
    second = ask(client, customer, "where is my order?", first["conversation_id"])
    assert second["conversation_id"] == first["conversation_id"]

    history = client.get(f"/v1/conversations/{first['conversation_id']}", headers=customer)
    assert history.status_code == 200
    turns = history.json()["turns"]
    assert [t["question"] for t in turns] == [GREETING, "where is my order?"]
    assert [t["turn_id"] for t in turns] == [first["turn_id"], second["turn_id"]]
    assert turns[1]["intent"]["label"] == second["intent"]["label"]
    assert turns[1]["sentiment"] == second["sentiment"]
    assert turns[1]["handoff"] == second["handoff"]
    assert [c["document_id"] for c in turns[1]["citations"]] == [
        c["document_id"] for c in second["citations"]
    ]


def test_unknown_conversation_id_is_404_and_stores_nothing(client, accounts, api_settings) -> None:
    customer = bearer(accounts.create("customer"))
    response = client.post(
        "/v1/ask", json={"question": "hello", "conversation_id": "conv_nope"}, headers=customer
    )
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")
    database = next(api_settings.data_dir.rglob("*.db"))
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM conversation_turns").fetchone() == (0,)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (HUMAN_AGENT, "human_agent_requested"),
        (COMPLAINT, "complaint"),
        (NEGATIVE, "negative_sentiment"),
    ],
)
def test_single_turn_handoff_reasons(client, accounts, message, reason) -> None:
    customer = bearer(accounts.create("customer"))
    body = ask(client, customer, message)
    assert body["handoff"] == {"handoff": True, "reason": reason}, body["intent"]
    listed = client.get("/v1/handoffs", headers=customer).json()
    assert [(h["turn_id"], h["handoff"]["reason"]) for h in listed] == [(body["turn_id"], reason)]
    assert listed[0]["question"] == message


def test_two_off_topic_turns_in_a_row_hand_off(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    first = ask(client, customer, OFF_TOPIC[0])
    assert first["handoff"]["handoff"] is False, first  # one miss is not enough
    # A good turn in between breaks the run: a miss after it is again only one miss.
    good = ask(client, customer, GREETING, first["conversation_id"])
    assert good["handoff"]["handoff"] is False
    again = ask(client, customer, OFF_TOPIC[0], first["conversation_id"])
    assert again["handoff"]["handoff"] is False
    second = ask(client, customer, OFF_TOPIC[1], first["conversation_id"])
    assert second["handoff"] == {"handoff": True, "reason": "repeated_low_confidence"}, second
    # The same message in a fresh conversation has no earlier miss to pair with.
    alone = ask(client, customer, OFF_TOPIC[1])
    assert alone["handoff"]["handoff"] is False


def test_handoffs_are_listed_newest_first(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    older = ask(client, customer, COMPLAINT)
    ask(client, customer, GREETING)
    newer = ask(client, customer, HUMAN_AGENT)
    listed = client.get("/v1/handoffs", headers=customer).json()
    assert [h["turn_id"] for h in listed] == [newer["turn_id"], older["turn_id"]]
    assert [h["conversation_id"] for h in listed] == [
        newer["conversation_id"], older["conversation_id"]
    ]
    assert len(client.get("/v1/handoffs?limit=1", headers=customer).json()) == 1
    assert client.get("/v1/handoffs?limit=0", headers=customer).status_code in (400, 422)


def test_accounts_cannot_see_each_others_conversations(client, accounts) -> None:
    alice = bearer(accounts.create("customer", "alice"))
    bob = bearer(accounts.create("customer", "bob"))
    mine = ask(client, alice, COMPLAINT)
    assert mine["handoff"]["handoff"] is True
    assert len(client.get("/v1/handoffs", headers=alice).json()) == 1
    conversation = f"/v1/conversations/{mine['conversation_id']}"

    stolen = client.get(conversation, headers=bob)
    missing = client.get("/v1/conversations/conv_000000000000000000000000", headers=bob)
    assert stolen.status_code == missing.status_code == 404  # never 403: ids do not leak
    assert stolen.json()["type"] == missing.json()["type"]
    joined = client.post(
        "/v1/ask",
        json={"question": "hello", "conversation_id": mine["conversation_id"]},
        headers=bob,
    )
    assert joined.status_code == 404
    assert client.get("/v1/handoffs", headers=bob).json() == []
    assert len(client.get(conversation, headers=alice).json()["turns"]) == 1  # untouched
    assert client.delete("/v1/me/data", headers=bob).json() == {"conversations": 0, "turns": 0}
    assert client.get(conversation, headers=alice).status_code == 200


def test_delete_my_data_removes_everything_of_the_caller(client, accounts, api_settings) -> None:
    alice = bearer(accounts.create("customer", "alice"))
    bob = bearer(accounts.create("customer", "bob"))
    first = ask(client, alice, GREETING)
    ask(client, alice, COMPLAINT, first["conversation_id"])
    ask(client, alice, HUMAN_AGENT)
    kept = ask(client, bob, GREETING)

    response = client.delete("/v1/me/data", headers=alice)
    assert response.status_code == 200
    assert response.json() == {"conversations": 2, "turns": 3}
    gone = client.get(f"/v1/conversations/{first['conversation_id']}", headers=alice)
    assert gone.status_code == 404
    assert client.get("/v1/handoffs", headers=alice).json() == []
    assert client.delete("/v1/me/data", headers=alice).json() == {"conversations": 0, "turns": 0}
    still = client.get(f"/v1/conversations/{kept['conversation_id']}", headers=bob)
    assert still.status_code == 200
    database = next(api_settings.data_dir.rglob("*.db"))
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM conversation_turns").fetchone() == (1,)


def test_retention_expires_old_turns(client, accounts, api_settings) -> None:
    customer = bearer(accounts.create("customer"))
    body = ask(client, customer, COMPLAINT)
    conversation = f"/v1/conversations/{body['conversation_id']}"
    purge = client.app.state.services.conversations.purge_expired
    days = api_settings.retention_days

    assert client.blocking_portal.call(purge, utcnow_() + timedelta(days=days - 1)) == 0
    assert client.get(conversation, headers=customer).status_code == 200
    assert len(client.get("/v1/handoffs", headers=customer).json()) == 1
    assert client.blocking_portal.call(purge, utcnow_() + timedelta(days=days + 1)) == 1
    assert client.get(conversation, headers=customer).status_code == 404
    assert client.get("/v1/handoffs", headers=customer).json() == []


def test_retention_task_runs_with_the_app_and_stops_on_shutdown(
    api_settings, built_packs, shared_embedder, small_classifier
) -> None:
    from litestar.testing import TestClient

    from api.app import create_app
    from tests.api.conftest import install_built_packs

    install_built_packs(api_settings, built_packs, ["support-basics"])
    app = create_app(
        api_settings,
        start_options={"embedder": shared_embedder, "classifier": small_classifier},
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        task = client.app.state.services.retention_task
        assert task is not None and not task.done()
    assert task.cancelled()


def test_privacy_routes_need_a_customer_key(client, accounts) -> None:
    publisher = bearer(accounts.create("publisher"))
    for method, path in [
        ("GET", "/v1/handoffs"),
        ("GET", "/v1/conversations/conv_x"),
        ("DELETE", "/v1/me/data"),
    ]:
        assert client.request(method, path).status_code == 401
        assert client.request(method, path, headers=publisher).status_code == 403
