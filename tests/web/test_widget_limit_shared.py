"""The widget's per-visitor and per-key limits, counted in the shared Redis store, hold under
concurrent questions (several workers asking at once must not read the same count)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from types import SimpleNamespace

import pytest

from api.rate_limit import RedisRateLimitStore
from api.web.widget import _within_limit

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_answers(), reason="no Redis at 127.0.0.1:6379 (the build machines run one)"
)


async def test_concurrent_widget_questions_never_exceed_the_shared_limit() -> None:
    store = RedisRateLimitStore.from_url(REDIS_URL)
    # Two "workers": two apps whose rate-limit store is the same Redis.
    workers = [
        SimpleNamespace(app=SimpleNamespace(stores=SimpleNamespace(get=lambda name: store)))
        for _ in range(2)
    ]
    name = f"visitor:test-{uuid.uuid4().hex}"
    try:
        allowed = await asyncio.gather(
            *(_within_limit(workers[i % 2], name, 7) for i in range(30))  # type: ignore[arg-type]
        )
        assert sum(allowed) == 7
    finally:
        await store.close()
