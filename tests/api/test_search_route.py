"""``POST /v1/search`` embeds through the ``embed`` micro-batcher shared with ``/v1/ask``.

Concurrent searches share one forward pass, a search returns what a lone search returns, the
caller's active packs still bound every result, and a query the route refuses never reaches
the batcher (where it would fail the batch of every request waiting with it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from litestar.testing import TestClient

from core.settings import Settings
from tests.api.conftest import DOCS_PER_PACK, bearer, buy_and_activate, install_built_packs

QUERIES = [
    "How do I reset my password?",
    "Can I get a refund for my order?",
    "How do I dispute a credit card charge?",
    "What is a power of attorney?",
    "How do I change my shipping address?",
    "What is an escrow account?",
]


@pytest.fixture
def search_client(
    api_settings: Settings, built_packs: Any, shared_embedder: Any, small_classifier: Any
) -> Iterator[TestClient]:
    """The app with batches of exactly ``len(QUERIES)`` gathered for up to a second by one
    embed worker, so that searches sent together land in one forward pass however slow the
    machine is (a second worker would start a batch of its own)."""
    from api.app import create_app

    settings = api_settings.model_copy(
        update={"batch_max_size": len(QUERIES), "batch_max_wait_ms": 1000.0, "embed_workers": 1}
    )
    install_built_packs(settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        yield client


def _customer_with_every_pack(client: TestClient) -> dict[str, str]:
    services = client.app.state.services
    _, api_key = client.blocking_portal.call(services.accounts.create_account, "c", "customer")
    customer = bearer(api_key)
    for pack_id in ("finance", "legal"):
        buy_and_activate(client, customer, pack_id)
    return customer


def _record_batches(client: TestClient) -> list[list[str]]:
    """The embed batcher's calls from now on, each as the list of texts it embedded."""
    embed = client.app.state.services.batchers.embed
    calls: list[list[str]] = []
    inner = embed.batch_fn

    def recording(texts: list[str]) -> Sequence[Any]:
        calls.append(list(texts))
        return inner(texts)

    embed.batch_fn = recording
    return calls


def _search(client: TestClient, customer: dict[str, str], query: str, **body: Any) -> Any:
    response = client.post("/v1/search", json={"query": query, **body}, headers=customer)
    assert response.status_code == 200, response.text
    return response.json()


def test_concurrent_searches_share_one_forward_pass(search_client: TestClient) -> None:
    customer = _customer_with_every_pack(search_client)
    calls = _record_batches(search_client)

    with ThreadPoolExecutor(len(QUERIES)) as pool:
        together = list(pool.map(lambda q: _search(search_client, customer, q), QUERIES))

    assert len(calls) == 1, f"expected one forward pass, got batches of {[len(c) for c in calls]}"
    assert sorted(calls[0]) == sorted(QUERIES)
    # Batched or alone, a search returns the same hits.
    alone = [_search(search_client, customer, query) for query in QUERIES]
    assert together == alone
    assert all(hits for hits in together)


def test_a_search_and_a_question_share_the_embed_batcher(search_client: TestClient) -> None:
    customer = _customer_with_every_pack(search_client)
    calls = _record_batches(search_client)

    with ThreadPoolExecutor(2) as pool:
        searched = pool.submit(_search, search_client, customer, "How do I reset my password?")
        asked = pool.submit(
            search_client.post,
            "/v1/ask",
            json={"question": "Can I get a refund for my order?"},
            headers=customer,
        )
        assert asked.result().status_code == 200, asked.result().text
        assert searched.result()

    # The question and the query in the first forward pass (the answer's own embeddings of
    # passage sentences come later).
    assert {"Can I get a refund for my order?", "How do I reset my password?"} <= set(calls[0])


def test_searches_and_questions_do_their_blocking_work_in_the_lane(
    search_client: TestClient, built_packs: Any
) -> None:
    """The search of /v1/search and the routing, search and redaction of /v1/ask run as calls
    of the work lane (one thread, batched hand-offs), not in asyncio.to_thread."""
    customer = _customer_with_every_pack(search_client)
    question = built_packs.documents["finance"][0]["metadata"]["eval_questions"][0]
    lane = search_client.app.state.services.batchers.search
    before = lane.stats().items
    assert _search(search_client, customer, question)
    after_search = lane.stats().items
    asked = search_client.post("/v1/ask", json={"question": question}, headers=customer)
    assert asked.status_code == 200, asked.text
    assert asked.json()["citations"], asked.json()  # answered from a pack: it searched
    assert after_search - before == 1
    # routing scores, the answer's search, the redaction of the stored turn
    assert lane.stats().items - after_search == 3


def test_search_results_come_only_from_the_callers_active_packs(
    search_client: TestClient,
) -> None:
    services = search_client.app.state.services
    _, api_key = search_client.blocking_portal.call(
        services.accounts.create_account, "c", "customer"
    )
    customer = bearer(api_key)
    finance_query = "How do I dispute a credit card charge?"

    not_bought = _search(search_client, customer, finance_query, top_k=20)
    buy_and_activate(search_client, customer, "finance")
    bought = _search(search_client, customer, finance_query, top_k=20)
    deactivated = search_client.post("/v1/packs/finance/deactivate", headers=customer)
    assert deactivated.status_code == 200
    after_deactivation = _search(search_client, customer, finance_query, top_k=20)

    assert {hit["pack_id"] for hit in not_bought} <= {"support-basics"}
    assert "finance" in {hit["pack_id"] for hit in bought}
    assert {hit["pack_id"] for hit in after_deactivation} <= {"support-basics"}


def test_a_blank_query_is_refused_before_the_batcher(search_client: TestClient) -> None:
    customer = _customer_with_every_pack(search_client)
    embed = search_client.app.state.services.batchers.embed
    before = embed.stats()

    response = search_client.post("/v1/search", json={"query": "   "}, headers=customer)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "empty" in response.json()["detail"]
    assert embed.stats() == before


def test_a_bm25_search_runs_no_model(search_client: TestClient) -> None:
    customer = _customer_with_every_pack(search_client)
    calls = _record_batches(search_client)

    hits = _search(search_client, customer, "refund order", mode="bm25")

    assert hits
    assert calls == []
