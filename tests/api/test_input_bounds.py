"""One length limit for questions and queries, checked before any work (issue 14, defects 1, 2, 12).

``PACKDESK_MAX_QUERY_CHARS`` (``Settings.max_query_chars``) is the only bound: the request
schemas no longer carry their own (4,000 characters against the settings' 2,000). An over-long
question gets 422 problem JSON before anything is classified, embedded, redacted or stored,
so it never reaches the micro-batchers, where it used to fail a whole batch that was then
retried one item at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from core.privacy import Redactor
from core.settings import Settings
from tests.api.conftest import bearer, install_built_packs

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def make_client(
    api_settings: Settings, built_packs: Any, shared_embedder: Any, small_classifier: Any
) -> Iterator[Any]:
    """Start the app with ``max_query_chars`` set; yields a factory (one app per test)."""
    from api.app import create_app

    clients: list[TestClient] = []

    def make(max_query_chars: int) -> TestClient:
        settings = api_settings.model_copy(update={"max_query_chars": max_query_chars})
        install_built_packs(settings, built_packs, ["support-basics"])
        app = create_app(
            settings,
            start_options={"embedder": shared_embedder, "classifier": small_classifier},
        )
        client = TestClient(app, base_url="http://testserver.local")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _customer(client: TestClient) -> dict[str, str]:
    services = client.app.state.services
    _, api_key = client.blocking_portal.call(services.accounts.create_account, "c", "customer")
    return bearer(api_key)


def _stored_turns(client: TestClient) -> int:
    database = next(client.app.state.services.settings.data_dir.rglob("*.db"))
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM conversation_turns").fetchone()[0])


def _batched_items(client: TestClient) -> tuple[int, int]:
    batchers = client.app.state.services.batchers
    classified = batchers.classify.stats().items if batchers.classify is not None else 0
    return batchers.embed.stats().items, classified


@pytest.fixture
def redact_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the process's redactor is asked to redact."""
    calls: list[str] = []
    original = Redactor.redact

    def spy(self: Redactor, text: str) -> Any:
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(Redactor, "redact", spy)
    return calls


def _assert_too_long_problem(response: Any, length: int, limit: int) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"].endswith("/invalid-input")
    assert body["status"] == 422
    assert str(length) in body["detail"] and str(limit) in body["detail"]


def test_a_question_over_the_settings_limit_is_refused_before_any_work(
    make_client: Any, redact_calls: list[str]
) -> None:
    client = make_client(2000)
    customer = _customer(client)
    before = _batched_items(client)
    question = "x" * 2001  # within the old schema bound of 4,000

    response = client.post("/v1/ask", json={"question": question}, headers=customer)

    _assert_too_long_problem(response, 2001, 2000)
    assert _batched_items(client) == before, "the question reached a model batcher"
    assert redact_calls == []
    assert _stored_turns(client) == 0


def test_an_over_long_question_never_reaches_the_batcher_and_others_still_batch(
    make_client: Any,
) -> None:
    client = make_client(300)
    customer = _customer(client)
    embed = client.app.state.services.batchers.embed
    before = embed.stats()

    refused = client.post("/v1/ask", json={"question": "y" * 301}, headers=customer)
    after_refused = embed.stats()
    answered = client.post("/v1/ask", json={"question": "z" * 300}, headers=customer)

    _assert_too_long_problem(refused, 301, 300)
    assert (after_refused.items, after_refused.failed_batches) == (before.items, 0)
    assert answered.status_code == 200, answered.text
    after = embed.stats()
    assert after.items == before.items + 1
    assert after.failed_batches == 0


def test_the_limit_comes_from_settings_not_the_schema(make_client: Any) -> None:
    client = make_client(5000)
    customer = _customer(client)
    question = "How do I reset my password? " * 160  # 4,480 characters: over the old 4,000

    asked = client.post("/v1/ask", json={"question": question[:4480]}, headers=customer)
    searched = client.post("/v1/search", json={"query": question[:4480]}, headers=customer)

    assert asked.status_code == 200, asked.text
    assert searched.status_code == 200, searched.text


def test_a_search_query_over_the_limit_is_refused_up_front(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(2000)
    customer = _customer(client)
    # No active pack: the search used to answer 200 [] without looking at the query.
    deactivated = client.post("/v1/packs/support-basics/deactivate", headers=customer)
    assert deactivated.status_code == 200
    embedded: list[Any] = []
    embedder = client.app.state.services.search.embedder
    monkeypatch.setattr(embedder, "embed", lambda *args, **kwargs: embedded.append(args))

    response = client.post("/v1/search", json={"query": "q" * 2001}, headers=customer)

    _assert_too_long_problem(response, 2001, 2000)
    assert embedded == []


def test_a_search_query_over_the_limit_with_active_packs_embeds_nothing(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(2000)
    customer = _customer(client)
    embedded: list[Any] = []
    embedder = client.app.state.services.search.embedder
    monkeypatch.setattr(embedder, "embed", lambda *args, **kwargs: embedded.append(args))

    response = client.post("/v1/search", json={"query": "q" * 2001}, headers=customer)

    _assert_too_long_problem(response, 2001, 2000)
    assert embedded == []
