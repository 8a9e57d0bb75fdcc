"""A body field named like one of the app's dependencies is the client's mistake (422), not a
server error: Litestar took it for a failing dependency and answered 500 (found by the API
fuzzer: ``{"reason": "...", "payouts": -664}`` to the reject route)."""

from __future__ import annotations

import pytest

from api.dependencies import DEPENDENCIES
from tests.api.conftest import bearer


@pytest.mark.parametrize("field", sorted(DEPENDENCIES))
def test_an_extra_field_named_like_a_dependency_is_422(client, accounts, field: str) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(accounts.create("admin"))
    response = client.post(
        "/v1/admin/packs/legal/versions/1.0.0/reject",
        json={"reason": "spam", field: -664},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-input")
    assert problem["detail"] == f"unknown field(s) in the request: {field}"


def test_an_ordinary_unknown_field_is_422_as_before(client, accounts) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(accounts.create("admin"))
    response = client.post(
        "/v1/admin/packs/legal/versions/1.0.0/reject",
        json={"reason": "spam", "colour": "red"},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-input")
