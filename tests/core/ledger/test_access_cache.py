"""The access cache: reused within its TTL, dropped by any access-relevant write, never stale
within the process that made the change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import AuthenticationError
from core.ledger.access_cache import AccessCache
from core.ledger.accounts import AccountService
from core.ledger.billing import BillingEvent, Grant, PaymentRefunded
from core.ledger.db import Database
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import Entitlement
from plugins.local_billing import LocalBilling
from tests.core.ledger.conftest import open_order


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        return self.calls


async def test_reuses_within_ttl_and_reloads_after(db: Database) -> None:
    clock, load = FakeClock(), CountingLoader()
    cache: AccessCache[int] = AccessCache(db, 2.0, clock=clock)
    assert [await cache.get("a", load) for _ in range(3)] == [1, 1, 1]
    clock.now += 2.5
    assert await cache.get("a", load) == 2
    assert (cache.hits, cache.misses) == (2, 2)


async def test_zero_ttl_disables_the_cache(db: Database) -> None:
    load = CountingLoader()
    cache: AccessCache[int] = AccessCache(db, 0)
    assert [await cache.get("a", load) for _ in range(3)] == [1, 2, 3]


async def test_any_write_invalidates_but_a_turn_write_does_not(db: Database) -> None:
    load = CountingLoader()
    cache: AccessCache[int] = AccessCache(db, 60.0)
    assert await cache.get("a", load) == 1
    async with db.write(changes_access=False):
        pass
    assert await cache.get("a", load) == 1
    async with db.write():
        pass
    assert await cache.get("a", load) == 2


async def test_a_failed_write_invalidates_too(db: Database) -> None:
    load = CountingLoader()
    cache: AccessCache[int] = AccessCache(db, 60.0)
    await cache.get("a", load)
    with pytest.raises(RuntimeError):
        async with db.write():
            raise RuntimeError("boom")
    assert await cache.get("a", load) == 2


async def test_a_value_loaded_across_a_write_is_not_kept(db: Database) -> None:
    """A load that began before a commit may have read the old rows: serve it once, keep it not."""
    cache: AccessCache[str] = AccessCache(db, 60.0)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_old_read() -> str:
        started.set()
        await release.wait()
        return "old"

    reader = asyncio.create_task(cache.get("a", slow_old_read))
    await started.wait()
    async with db.write():
        pass
    release.set()
    assert await reader == "old"

    async def fresh_read() -> str:
        return "new"

    assert await cache.get("a", fresh_read) == "new"


async def test_least_recently_used_entries_are_dropped(db: Database) -> None:
    load = CountingLoader()
    cache: AccessCache[int] = AccessCache(db, 60.0, max_entries=2)
    await cache.get("a", load)
    await cache.get("b", load)
    await cache.get("a", load)  # a is now the most recent
    await cache.get("c", load)  # drops b
    assert await cache.get("a", load) == 1
    assert await cache.get("b", load) == 4


async def test_revoked_key_is_refused_at_once(db: Database, accounts: AccountService) -> None:
    assert db.settings.access_cache_seconds > 0  # the cache is on, as in production
    _, key = await accounts.create_account("Ann", "customer")
    principal = await accounts.authenticate(key)
    assert await accounts.authenticate(key) == principal  # served from the cache
    await accounts.revoke_key(principal.key_prefix)
    with pytest.raises(AuthenticationError, match="revoked"):
        await accounts.authenticate(key)


async def test_refund_closes_access_at_once(db, accounts, catalog) -> None:
    account, _ = await accounts.create_account("Ann", "customer")
    entitlements = EntitlementService(db)
    billing = BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=entitlements
    )
    await open_order(db, account.account_id, "finance", session_id="ord_1")
    await billing.fulfil(
        Grant(account.account_id, "finance", "1.0.0", "one_time", order_ref="ord_1",
              payment_ref="pi_1"),
        event_id="e1",
    )
    await entitlements.activate(account.account_id, "finance")
    assert "finance" in await entitlements.readable_pack_ids(account.account_id)
    assert "finance" in await entitlements.readable_pack_ids(account.account_id)  # cached
    await billing.apply(BillingEvent("e2", "charge.refunded", "local",
                                     PaymentRefunded(payment_ref="pi_1", full=True)))
    assert "finance" not in await entitlements.readable_pack_ids(account.account_id)


async def test_a_cached_entitlement_still_ends_with_its_period(
    db, accounts, catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, _ = await accounts.create_account("Ann", "customer")
    entitlements = EntitlementService(db)
    billing = BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=entitlements
    )
    end = datetime.now(UTC) + timedelta(minutes=5)
    await billing.fulfil(
        Grant(account.account_id, "medical", "1.0.0", "subscription",
              subscription_ref="sub_1", current_period_end=end),
        event_id="e1",
    )
    assert await entitlements.may_read(account.account_id, "medical")
    async with db.read() as session:
        assert (await session.execute(select(Entitlement))).scalar_one().pack_id == "medical"
    # No write happens; only the clock passes the period end, inside the cache's TTL.
    monkeypatch.setattr("core.ledger.entitlements.utcnow_", lambda: end + timedelta(seconds=1))
    assert not await entitlements.may_read(account.account_id, "medical")


async def test_concurrent_misses_share_one_load(db: Database) -> None:
    cache: AccessCache[int] = AccessCache(db, 60.0)
    release = asyncio.Event()
    calls = 0

    async def slow_load() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 7

    waiters = [asyncio.create_task(cache.get("a", slow_load)) for _ in range(10)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # one caller leaves: the others still get the value
    release.set()
    results = await asyncio.gather(*waiters[1:])
    assert results == [7] * 9 and calls == 1


async def test_a_failed_load_fails_its_waiters_and_is_not_kept(db: Database) -> None:
    cache: AccessCache[int] = AccessCache(db, 60.0)

    async def refuse() -> int:
        raise AuthenticationError("unknown API key")

    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await cache.get("a", refuse)
    assert await cache.get("a", CountingLoader()) == 1
