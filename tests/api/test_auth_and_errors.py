"""Every non-public route refuses no key, a revoked key and a key of the wrong scope; errors
are RFC 9457 problem JSON; the OpenAPI document lists every route."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import bearer

SCOPES = ("customer", "publisher", "admin")
EXEMPT = {"public", "stripe-signature"}


def _protected_routes(client) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(method, concrete path, required scope) for every route that needs an API key."""
    routes = []
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.http_methods <= {"OPTIONS", "HEAD"}:
                continue  # Litestar's automatic preflight handlers
            if route.path.startswith("/schema"):
                continue  # Litestar's OpenAPI document and docs page: public by design
            auth = handler.opt.get("auth")
            assert auth is not None, f"route {route.path} does not state its auth"
            if auth in EXEMPT or auth == "widget-key" or auth.startswith("session:"):
                continue  # browser sessions and widget keys: tests/web checks their matrix
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            for method in handler.http_methods:
                routes.append((method, path, auth))
    return sorted(set(routes))


def test_every_route_states_its_auth(client) -> None:
    protected = _protected_routes(client)
    assert ("POST", "/v1/ask", "customer") in protected
    assert ("POST", "/v1/publisher/packs", "publisher") in protected
    assert ("POST", "/v1/admin/accounts", "admin") in protected


def test_auth_matrix(client, accounts) -> None:
    keys = {scope: accounts.create(scope) for scope in SCOPES}
    revoked = accounts.create("customer")
    services = client.app.state.services
    client.blocking_portal.call(services.accounts.revoke_key, revoked.split("_")[1])
    checked = 0
    for method, path, scope in _protected_routes(client):
        no_key = client.request(method, path)
        assert no_key.status_code == 401, (method, path, no_key.text)
        assert no_key.json()["type"].endswith("unauthenticated")
        bad = client.request(method, path, headers=bearer(revoked))
        assert bad.status_code == 401, (method, path, bad.text)
        wrong_scope = next(s for s in SCOPES if s != scope)
        wrong = client.request(method, path, headers=bearer(keys[wrong_scope]))
        assert wrong.status_code == 403, (method, path, wrong.text)
        assert wrong.json()["type"].endswith("forbidden")
        checked += 1
    assert checked >= 12


def test_problem_json_for_invalid_input(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    response = client.post("/v1/ask", json={"question": ""}, headers=customer)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert set(problem) >= {"type", "title", "status", "detail"}
    assert "Traceback" not in response.text


def test_oversized_json_body_is_413(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    limit = client.app.state.services.settings.max_body_bytes
    response = client.post(
        "/v1/ask",
        content=b'{"question": "' + b"a" * limit + b'"}',
        headers={**customer, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


def test_buying_an_unknown_pack_is_404_and_a_free_one_409(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    assert (
        client.post("/v1/checkout", json={"pack_id": "nope"}, headers=customer).status_code == 404
    )
    free = client.post("/v1/checkout", json={"pack_id": "support-basics"}, headers=customer)
    assert free.status_code == 409


def test_activating_an_unowned_pack_needs_an_entitlement(client, accounts) -> None:
    customer = bearer(accounts.create("customer"))
    response = client.post("/v1/packs/finance/activate", headers=customer)
    assert response.status_code == 402
    assert response.json()["type"].endswith("entitlement-required")


def test_openapi_lists_every_route(client) -> None:
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.")
    listed = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.resolve_include_in_schema() or route.path.startswith("/schema"):
                continue
            for method in handler.http_methods:
                if method in ("HEAD", "OPTIONS"):
                    continue
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                assert (method, path) in listed, (method, path)
    operation_ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert "BearerApiKey" in spec["components"]["securitySchemes"]


def test_health_ready_and_metrics(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["packs"]) == {"finance", "legal", "support-basics"}
    client.get("/v1/packs")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "packdesk_requests_total" in metrics.text


def test_every_response_carries_its_own_request_id(client) -> None:
    ids = [client.get("/healthz").headers["x-request-id"] for _ in range(50)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


@pytest.fixture
def limited_client(api_settings, built_packs, shared_embedder, small_classifier):  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from api.app import create_app
    from tests.api.conftest import install_built_packs

    settings = api_settings.model_copy(update={"rate_limit_per_minute": 3})
    install_built_packs(settings, built_packs, ["support-basics"])
    app = create_app(
        settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client


def test_rate_limit_is_per_key_with_retry_after(limited_client) -> None:
    services = limited_client.app.state.services
    _, first = limited_client.blocking_portal.call(
        services.accounts.create_account, "a", "customer"
    )
    _, second = limited_client.blocking_portal.call(
        services.accounts.create_account, "b", "customer"
    )
    statuses = [
        limited_client.get("/v1/entitlements", headers=bearer(first)).status_code for _ in range(4)
    ]
    assert statuses[:3] == [200, 200, 200]
    limited = limited_client.get("/v1/entitlements", headers=bearer(first))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 0
    assert limited_client.get("/v1/entitlements", headers=bearer(second)).status_code == 200
