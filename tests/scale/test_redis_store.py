"""The shared rate-limit store against a real ``redis-server`` that restarts (issue 15)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from api.rate_limit import RedisRateLimitStore
from core.errors import ServiceUnavailable
from tests.scale.conftest import RedisServer

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


def test_the_first_count_after_a_redis_restart_passes_and_a_stopped_redis_is_503(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()

    async def scenario() -> None:
        store = RedisRateLimitStore.from_url(server.url)
        try:
            assert await store.hit("caller", 60) == (1, 60)
            server.stop()
            with pytest.raises(ServiceUnavailable):
                await store.hit("caller", 60)
            server.start()
            # The pooled connection died with the old server: the store reconnects, not 503.
            count, _ = await store.hit("caller", 60)
            assert count == 1  # counting restarts with Redis's (unpersisted) data
            assert (await store.hit("caller", 60))[0] == 2
            server.stop()
            server.start()
            assert (await store.hit("caller", 60))[0] == 1
        finally:
            await store.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
