"""``PACKDESK_GENERATOR_URL``: answers are composed by the generator, and fall back to the
extractive answer when it fails or times out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.api.conftest import install_built_packs
from tests.plugins.test_openai_generator import FakeChatServer

QUESTION = "How do I cancel an order I placed yesterday?"


@pytest.fixture
def chat_server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


@pytest.fixture
def generator_client(api_settings, built_packs, shared_embedder, chat_server):  # type: ignore[no-untyped-def]
    settings = api_settings.model_copy(
        update={"generator_url": chat_server.url, "generator_timeout_s": 0.5}
    )
    install_built_packs(settings, built_packs, ["support-basics"])
    app = create_app(
        settings, start_options={"embedder": shared_embedder, "load_classifier": False}
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        services = client.app.state.services
        _, key = client.blocking_portal.call(services.accounts.create_account, "c", "customer")
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def test_generator_writes_the_answer(generator_client, chat_server) -> None:
    body = generator_client.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["text"] == "GENERATED: puppies need boosters."
    assert body["composed_by"] == "openai-compatible"
    assert body["citations"]  # citations still come from retrieval
    sent = chat_server.requests[0]["body"]["messages"][1]["content"]
    assert QUESTION in sent


@pytest.mark.parametrize("mode", ["error", "slow"])
def test_failing_generator_falls_back_to_extractive(generator_client, chat_server, mode) -> None:
    chat_server.mode = mode
    body = generator_client.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["composed_by"] == "extractive"
    assert "GENERATED" not in body["text"]
    assert body["text"].strip()
