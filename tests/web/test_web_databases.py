"""The web's tables and queries on both databases: sessions, widget keys, visitor questions,
insights and the consoles' statistics (the PostgreSQL run is skipped without a server)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from core.publishing.console import pack_stats
from tests.api.conftest import Accounts, bearer, buy_and_activate
from tests.web.conftest import sign_in
from tests.web.test_sessions_csrf_widget import (
    SITE,
    create_widget_key,
    finance_question,
    widget_events,
)


@pytest.mark.postgres
def test_the_web_on_postgresql(web_client_pg: TestClient, built_packs: Any) -> None:
    web_journey(web_client_pg, built_packs)


def test_the_web_on_sqlite(web_client: TestClient, built_packs: Any) -> None:
    web_journey(web_client, built_packs)


def web_journey(client: TestClient, built_packs: Any) -> None:
    """Sessions, widget keys, visitor questions, insights and the consoles' statistics."""
    accounts = Accounts(client)
    key = accounts.create("customer", "Acme")
    assert sign_in(client, key).status_code == 303
    assert client.get("/account").status_code == 200
    pk = create_widget_key(client)
    asked = client.post(
        f"/v1/widget/{pk}/ask",
        json={"question": finance_question(built_packs), "visitor": "v" * 20},
        headers={"Origin": SITE},
    )
    assert asked.status_code == 200
    assert [event for event, _ in widget_events(asked)][-1] == "done"
    handed_off = client.post(
        f"/v1/widget/{pk}/ask",
        json={"question": "I want to talk to a human agent now", "visitor": "v" * 20},
        headers={"Origin": SITE},
    )
    assert next(d for e, d in widget_events(handed_off) if e == "summary")["handoff"] is True
    period = client.get("/v1/insights?period=month&periods=2", headers=bearer(key)).json()
    current = period["periods"][0]
    assert current["questions"] == 2 and current["handoffs"] == 1
    assert current["missed"][0]["pack_id"] == "finance"
    assert client.get("/account/insights").status_code == 200

    # The publisher console's statistics: a paid order and an answer citing the pack.
    buy_and_activate(client, bearer(key), "finance")
    answered = client.post(
        "/v1/ask", json={"question": finance_question(built_packs)}, headers=bearer(key)
    )
    assert answered.json()["citations"], answered.text
    services = client.app.state.services
    stats = client.blocking_portal.call(pack_stats, services.db, ["finance", "legal"])
    assert stats["finance"].paid_orders == 1 and stats["finance"].revenue == {"usd": 1900}
    assert stats["finance"].cited_answers == 1
    assert stats["legal"].paid_orders == 0 and stats["legal"].cited_answers == 0

    # One client (asyncpg connections belong to its event loop): signing in again switches.
    assert sign_in(client, accounts.create("publisher", "Pub")).status_code == 303
    assert client.get("/publisher").status_code == 200
    assert sign_in(client, accounts.create("admin", "Op")).status_code == 303
    assert client.get("/admin").status_code == 200
