"""The rate limit counts a valid key by key, everything else by client address (issue 14, defect 6).

It used to be keyed by whatever bearer token was sent, before authentication: a random token
per request was never limited, and the in-memory store grew with every distinct token.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.rate_limit import RATE_LIMIT_STORE, BoundedMemoryStore
from core.settings import Settings
from tests.api.conftest import bearer, install_built_packs

LIMIT = 5


@pytest.fixture
def limited_client(
    api_settings: Settings, built_packs: Any, shared_embedder: Any, small_classifier: Any
) -> Iterator[TestClient]:
    from api.app import create_app

    settings = api_settings.model_copy(update={"rate_limit_per_minute": LIMIT})
    install_built_packs(settings, built_packs, ["support-basics"])
    app = create_app(
        settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        yield client


def _key(client: TestClient, scope: str = "customer") -> str:
    services = client.app.state.services
    _, api_key = client.blocking_portal.call(services.accounts.create_account, "k", scope)
    return api_key


def _random_token(i: int) -> str:
    """Well-formed unknown keys, malformed tokens and no token at all, in turn."""
    if i % 3 == 0:
        return f"pd_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    if i % 3 == 1:
        return secrets.token_urlsafe(24)
    return ""


def _store_entries(client: TestClient) -> int:
    store = client.app.stores.get(RATE_LIMIT_STORE)
    return len(store) if isinstance(store, BoundedMemoryStore) else len(store._store)


def test_random_tokens_from_one_client_share_that_clients_limit(limited_client) -> None:
    statuses = []
    for i in range(50):
        token = _random_token(i)
        headers = bearer(token) if token else {}
        statuses.append(limited_client.get("/v1/entitlements", headers=headers).status_code)

    assert statuses[:LIMIT] == [401] * LIMIT
    assert statuses[LIMIT:] == [429] * (50 - LIMIT)
    # One bucket for the address, not one per token.
    assert _store_entries(limited_client) == 1


def test_a_valid_key_is_limited_by_key_not_by_the_address(limited_client) -> None:
    first, second = _key(limited_client), _key(limited_client)
    # The address is spent by unauthenticated requests...
    for _ in range(LIMIT):
        assert limited_client.get("/v1/entitlements").status_code == 401
    assert limited_client.get("/v1/entitlements").status_code == 429
    # ... but each valid key has its own limit.
    statuses = [
        limited_client.get("/v1/entitlements", headers=bearer(first)).status_code
        for _ in range(LIMIT + 1)
    ]
    assert statuses == [200] * LIMIT + [429]
    assert limited_client.get("/v1/entitlements", headers=bearer(second)).status_code == 200


def test_a_revoked_key_counts_against_the_address(limited_client) -> None:
    api_key = _key(limited_client)
    services = limited_client.app.state.services
    prefix = api_key.split("_")[1]
    limited_client.blocking_portal.call(services.accounts.revoke_key, prefix)

    statuses = [
        limited_client.get("/v1/entitlements", headers=bearer(api_key)).status_code
        for _ in range(LIMIT + 1)
    ]
    assert statuses == [401] * LIMIT + [429]
    assert limited_client.get("/v1/packs").status_code == 429  # same address, no token


def test_the_store_drops_expired_entries_and_keeps_at_most_max_entries() -> None:
    now = [1000.0]
    store = BoundedMemoryStore(max_entries=3, clock=lambda: now[0])

    async def scenario() -> None:
        for i in range(10):
            await store.set(f"k{i}", b"v", expires_in=60)
        assert len(store) == 3
        assert [await store.get(f"k{i}") for i in (6, 7, 8, 9)] == [None, b"v", b"v", b"v"]
        now[0] += 61
        await store.set("fresh", b"v", expires_in=60)
        assert len(store) == 1  # the expired ones went when the fresh one came
        assert await store.get("k9") is None
        assert await store.get("fresh") == b"v"
        assert await store.exists("fresh") and not await store.exists("k9")
        assert await store.expires_in("fresh") == 60
        await store.delete("fresh")
        assert len(store) == 0

    asyncio.run(scenario())


def test_the_memory_store_counts_hits_in_a_fixed_window_in_one_small_entry() -> None:
    now = [1000.0]
    store = BoundedMemoryStore(max_entries=2, clock=lambda: now[0])

    async def scenario() -> None:
        assert [await store.hit("a", 60) for _ in range(3)] == [(1, 60), (2, 60), (3, 60)]
        now[0] += 20.5
        assert await store.hit("a", 60) == (4, 40)  # the window started with the first hit
        assert await store.get("a") == b"4"  # a count, not one timestamp per request
        await store.hit("b", 60)
        await store.hit("a", 60)  # counted in place: "a" is still the oldest window
        await store.hit("c", 60)
        assert len(store) == 2 and await store.get("a") is None
        now[0] += 60
        assert await store.hit("b", 60) == (1, 60)  # a new window

    asyncio.run(scenario())


def test_a_high_limit_costs_no_more_per_request(limited_client) -> None:
    """Litestar's history list grew by one timestamp per request within the window."""
    api_key = _key(limited_client)
    store = limited_client.app.stores.get(RATE_LIMIT_STORE)
    for _ in range(LIMIT):
        assert limited_client.get("/v1/entitlements", headers=bearer(api_key)).status_code == 200

    assert isinstance(store, BoundedMemoryStore)  # registered, not replaced while empty
    assert [value for _, value in store._entries.values()] == [str(LIMIT).encode()]


@pytest.mark.parametrize(
    ("host", "identity"),
    [
        ("203.0.113.7", "addr:203.0.113.7"),
        ("::ffff:203.0.113.7", "addr:203.0.113.7"),
        ("2001:db8:1:2::1", "addr:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "addr:2001:db8:1:2::/64"),  # same host's block
        ("testclient", "addr:testclient"),
    ],
)
def test_client_identity_counts_an_ipv6_client_by_its_64(host: str, identity: str) -> None:
    from litestar.connection import ASGIConnection

    from api.auth import client_identity

    scope: Any = {"type": "http", "client": (host, 5000)}
    assert client_identity(ASGIConnection(scope)) == identity


def test_a_request_is_authenticated_once_for_the_limit_and_the_route(
    limited_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key = _key(limited_client)
    accounts = limited_client.app.state.services.accounts
    calls: list[str] = []
    original = accounts.authenticate

    async def counting(token: str) -> Any:
        calls.append(token)
        return await original(token)

    monkeypatch.setattr(accounts, "authenticate", counting)
    assert limited_client.get("/v1/entitlements", headers=bearer(api_key)).status_code == 200
    assert calls == [api_key]
    other = _key(limited_client, "publisher")  # the guard still judges the scope it is given
    assert limited_client.get("/v1/entitlements", headers=bearer(other)).status_code == 403
