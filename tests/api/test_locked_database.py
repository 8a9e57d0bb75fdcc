"""A locked PostgreSQL table answers 503 with ``Retry-After`` within the statement limit (not a
request that hangs until the lock goes), and the same request succeeds once it is released."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from litestar.testing import TestClient

from core.settings import Settings
from tests.api.conftest import DOCS_PER_PACK, BuiltPacks, bearer, install_built_packs

pytestmark = pytest.mark.postgres


def _lock_table(url: str, table: str, seconds: float, holding: threading.Event) -> None:
    """Hold an exclusive lock on ``table`` from another session for ``seconds``."""
    import asyncio

    import asyncpg

    async def hold() -> None:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            async with connection.transaction():
                await connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                holding.set()
                await asyncio.sleep(seconds)
        finally:
            await connection.close()

    asyncio.run(hold())


def test_a_locked_table_is_a_503_within_the_statement_limit_then_answers(
    api_settings: Settings,
    postgres_url: str,
    built_packs: BuiltPacks,
    shared_embedder: Any,
    small_classifier: Any,
) -> None:
    from api.app import create_app

    settings = api_settings.model_copy(
        update={"database_url": postgres_url, "database_statement_timeout_seconds": 0.5,
                "access_cache_seconds": 0.0}
    )
    install_built_packs(settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        services = client.app.state.services
        _, key = client.blocking_portal.call(
            services.accounts.create_account, "locked out", "customer"
        )
        assert client.get("/v1/entitlements", headers=bearer(key)).status_code == 200

        holding = threading.Event()
        holder = threading.Thread(
            target=_lock_table, args=(postgres_url, "api_keys", 3.0, holding), daemon=True
        )
        holder.start()
        assert holding.wait(10)
        started = time.monotonic()
        locked = client.get("/v1/entitlements", headers=bearer(key))
        waited = time.monotonic() - started
        assert locked.status_code == 503, locked.text
        assert locked.headers["retry-after"] == "1"
        assert locked.json()["type"].endswith("service-unavailable")
        assert waited < 2.5, waited
        holder.join(10)
        assert client.get("/v1/entitlements", headers=bearer(key)).status_code == 200
