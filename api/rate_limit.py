"""The request rate limit: Litestar's ``RateLimitMiddleware``, a known caller, a bounded store.

Two things Litestar's defaults do not give (issue 14, defect 6):

* **Who is counted.** The identifier callback of ``RateLimitConfig`` is synchronous and runs
  before the guards, so it could only read the bearer token as sent: a random token per
  request got a fresh limit every time. :class:`IdentifiedRateLimitMiddleware` first resolves
  the caller asynchronously (:func:`api.auth.resolve_rate_limit_identity`: a valid key by key,
  anything else by client address) and the identifier callback reads that result.
* **How much is kept.** Litestar's ``MemoryStore`` deletes an expired entry only when it is read
  again, so every distinct identifier stayed in memory. :class:`BoundedMemoryStore` drops
  expired entries as new ones come and never holds more than ``max_entries``.
* **What a request costs.** Litestar's middleware keeps one timestamp per request of the
  window and decodes and re-encodes that list (JSON) on each request, under one lock for all
  callers. Both stores instead count in a fixed window (:meth:`BoundedMemoryStore.hit`,
  :meth:`RedisRateLimitStore.hit`): one small entry per caller, the same cost at any limit.
* **Shared by every process** (issue 15). With ``PACKDESK_REDIS_URL`` set,
  :func:`rate_limit_store` gives a :class:`RedisRateLimitStore` and each request is counted in
  Redis with one atomic step (``INCR`` in a fixed window, a Lua script), so N workers on M nodes
  share one limit per caller. Litestar's own read-modify-write of a request history is atomic
  within one process only: two workers would each count from the same stale history. While
  Redis does not answer, requests fail with 503 ``service-unavailable`` (fail closed: the limit
  is never silently lifted) and pass again as soon as it is back.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    CacheObject,
    RateLimitConfig,
    RateLimitMiddleware,
)
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

from api.auth import RATE_LIMIT_IDENTITY, rate_limit_identifier, resolve_rate_limit_identity
from api.errors import answer_in_middleware
from core.errors import ServiceUnavailable
from core.settings import Settings

if TYPE_CHECKING:
    from litestar.types import Message, Receive, Scope, Send

RATE_LIMIT_STORE = "rate_limit"
# One entry per caller seen in the last window (a minute): a key or a client address (an IPv6
# client's /64). Beyond this, the least recently counted callers are forgotten, which only
# gives them a fresh window.
MAX_RATE_LIMITED_CALLERS = 100_000
# Not limited: probes, metrics and the OpenAPI document.
UNLIMITED_PATHS = ["/healthz", "/readyz", "/metrics", "/schema"]


class BoundedMemoryStore(Store):
    """In-memory key/value store that forgets expired entries and keeps at most ``max_entries``.

    Entries are kept in the order they were last written; with one expiry for every entry (the
    rate limit's window) that is also the order in which they expire, so each write first drops
    the expired entries at the front, then the oldest ones beyond ``max_entries``. Every method
    runs without awaiting, so it is atomic on the event loop.

    Args:
        max_entries: the most entries held.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        max_entries: int = MAX_RATE_LIMITED_CALLERS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._clock = clock
        # key -> (expires_at or None, value)
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        # Litestar's StoreRegistry.get replaces a *falsy* registered store with a new plain
        # MemoryStore, and __len__ alone made an empty store falsy: this store was dropped
        # at the first request, and the unbounded MemoryStore served in its place.
        return True

    def _expiry(self, expires_in: int | timedelta | None) -> float | None:
        if expires_in is None:
            return None
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
        return self._clock() + seconds

    def _live(self, key: str) -> tuple[float | None, bytes] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] is not None and entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else value
        self._entries[key] = (self._expiry(expires_in), data)
        self._entries.move_to_end(key)
        now = self._clock()
        while self._entries:
            expires_at = next(iter(self._entries.values()))[0]
            if expires_at is None or expires_at > now:
                break
            self._entries.popitem(last=False)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        entry = self._live(key)
        if entry is None:
            return None
        if renew_for is not None and entry[0] is not None:
            self._entries[key] = (self._expiry(renew_for), entry[1])
            self._entries.move_to_end(key)
        return entry[1]

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def delete_all(self) -> None:
        self._entries.clear()

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def expires_in(self, key: str) -> int | None:
        entry = self._live(key)
        if entry is None or entry[0] is None:
            return None
        return round(entry[0] - self._clock())

    async def hit(self, key: str, window_s: int) -> tuple[int, int]:
        """Count one request of ``key`` in its fixed window, started by its first request:
        :meth:`RedisRateLimitStore.hit` in memory. Returns (requests in this window, this one
        included; seconds left). Nothing awaits, so a hit is atomic on the event loop.

        Litestar's own memory path keeps a list with one timestamp per request, decoded from
        JSON and encoded again on every request: with a high limit (the load benchmark's, or a
        big customer's) that costs milliseconds per request by the end of each minute.
        """
        entry = self._live(key)
        if entry is None or entry[0] is None:
            await self.set(key, b"1", expires_in=window_s)
            return 1, window_s
        count = int(entry[1]) + 1
        # Written in place: entries stay in the order their windows started (and so expire).
        self._entries[key] = (entry[0], b"%d" % count)
        return count, max(math.ceil(entry[0] - self._clock()), 0)


# Redis gets this long to answer before the request is refused with 503: a stopped Redis
# fails at once (connection refused), a hung one must not hold every request.
REDIS_TIMEOUT_S = 0.5
# One atomic step per request: count it in the caller's current window, start the window on
# its first request. Returns the count (this request included) and the seconds left.
_HIT_SCRIPT = b"""
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimitStore(RedisStore):
    """Litestar's Redis store plus :meth:`hit`, the atomic count the middleware uses."""

    def __init__(self, redis: Any, namespace: str = "packdesk:rate-limit") -> None:
        super().__init__(redis, namespace=namespace, handle_client_shutdown=True)
        self._hit_script = redis.register_script(_HIT_SCRIPT)

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimitStore:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        client = Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            # Once more at once on a lost connection: after Redis restarts, each pooled
            # connection fails its next command, which the retry's new connection passes.
            # (A refused connection fails as fast again; a timeout is not retried; a connection
            # lost mid-command may count that request twice.)
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        return cls(client)

    async def hit(self, key: str, window_s: int) -> tuple[int, int]:
        """Count one request of ``key``; returns (requests in this window, seconds left).

        Raises:
            ServiceUnavailable: Redis did not answer.
        """
        from redis.exceptions import RedisError

        try:
            count, ttl = await self._hit_script(keys=[self._make_key(key)], args=[window_s])
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable(
                "the shared rate-limit store (Redis) is unreachable; retry shortly"
            ) from exc
        return int(count), max(int(ttl), 0)

    async def close(self) -> None:
        await self._shutdown()


def rate_limit_store(settings: Settings) -> Store:
    """The store of :data:`RATE_LIMIT_STORE`: Redis, shared by every process, when
    ``PACKDESK_REDIS_URL`` is set; else this process's :class:`BoundedMemoryStore`."""
    if settings.redis_url:
        return RedisRateLimitStore.from_url(settings.redis_url)
    return BoundedMemoryStore()


class IdentifiedRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's rate limit, counted against the caller resolved before it runs (in Redis,
    atomically, when the store is a :class:`RedisRateLimitStore`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._limited(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            # Answered here, where the request log and the metrics see the status sent.
            await answer_in_middleware(scope, receive, send, exc)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = await resolve_rate_limit_identity(ASGIConnection(scope))
        scope.setdefault("state", {})[RATE_LIMIT_IDENTITY] = identity
        app = scope["litestar_app"]
        store = self.config.get_store_from_app(app)
        if not isinstance(store, RedisRateLimitStore | BoundedMemoryStore):
            await super().__call__(scope, receive, send)
            return
        request = app.request_class(scope)
        if await self.should_check_request(request=request):
            count, reset_in = await store.hit(
                self.cache_key_from_request(request), DURATION_VALUES[self.unit]
            )
            # Litestar's headers read the request history; its length is the count.
            counted = CacheObject(
                history=[0] * min(count, self.max_requests + 1),
                reset=int(time.time()) + reset_in,
            )
            if count > self.max_requests:
                raise TooManyRequestsException(
                    headers=self.create_response_headers(cache_object=counted)
                    if self.config.set_rate_limit_headers
                    else None
                )
            if self.config.set_rate_limit_headers:
                send = self.create_send_wrapper(send=send, cache_object=counted)
        await self.app(scope, receive, send)


def rate_limit_config(settings: Settings) -> RateLimitConfig:
    """``PACKDESK_RATE_LIMIT_PER_MINUTE`` per caller, in the store named :data:`RATE_LIMIT_STORE`
    (register :func:`rate_limit_store` under that name)."""
    return RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        identifier_for_request=rate_limit_identifier,
        exclude=UNLIMITED_PATHS,
        middleware_class=IdentifiedRateLimitMiddleware,
        store=RATE_LIMIT_STORE,
    )
