"""The one access check (:meth:`EntitlementService.may_read`) and pack activation.

Rules: an account *owns* a pack when the pack is free (owned by everyone) or it holds an
entitlement with status ``active`` whose ``current_period_end`` (if any) is in the future.
Refunded, canceled, revoked and suspended entitlements grant nothing. An owned pack is *active*
when the account activated it; free packs are active by default until deactivated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.errors import EntitlementRequired
from core.ledger.access_cache import AccessCache
from core.ledger.catalog import CatalogService
from core.ledger.common import as_utc, audit, insert_for, utcnow_
from core.ledger.db import Database
from core.ledger.models import Activation, Entitlement


@dataclass(frozen=True)
class _Holdings:
    """What one account's access decisions are made of, read in one go (and cached)."""

    free: frozenset[str]  # catalog packs everyone owns
    paid_until: dict[str, datetime | None]  # live entitlement -> its period end (None: none)
    switches: dict[str, bool]  # pack id -> activated (rows the account wrote)

    def owned(self) -> dict[str, bool]:
        """Owned pack ids -> whether owned because free. Period ends are checked now, at
        every use, so a cached entry never outlives a subscription period."""
        owned = dict.fromkeys(self.free, True)
        now = utcnow_()
        for pack_id, end in self.paid_until.items():
            if end is None or end > now:
                owned.setdefault(pack_id, False)
        return owned


@dataclass(frozen=True)
class EntitlementInfo:
    pack_id: str
    source: str  # one_time | subscription | local | free | admin
    status: str  # active | suspended | refunded | canceled | revoked
    current_period_end: datetime | None
    active: bool  # activated for the account's assistant
    readable: bool  # what may_read says right now


class EntitlementService:
    """Decides who may read which pack; every path that returns pack content asks it."""

    def __init__(self, db: Database, *, catalog: CatalogService | None = None) -> None:
        """Args:
        catalog: the process's catalog service (the server shares one); a new one by default.
        """
        self.db = db
        self.catalog = catalog or CatalogService(db)
        # Reused across asks for at most access_cache_seconds, dropped on any ledger write.
        self._holdings: AccessCache[_Holdings] = AccessCache(
            db, db.settings.access_cache_seconds
        )

    async def may_read(
        self, account_id: str, pack_id: str, *, require_active: bool = False
    ) -> bool:
        """True when the account owns the pack (and has it activated, if ``require_active``)."""
        return pack_id in await self.readable_pack_ids(account_id, active_only=require_active)

    async def readable_pack_ids(self, account_id: str, *, active_only: bool = True) -> set[str]:
        """Every pack the account owns (``active_only``: and has activated)."""
        holdings = await self._holdings.get(account_id, lambda: self._read_holdings(account_id))
        owned = holdings.owned()
        if not active_only:
            return set(owned)
        return {
            pack_id
            for pack_id, free in owned.items()
            if holdings.switches.get(pack_id, free)  # no row: free packs default to active
        }

    async def _owned(self, account_id: str) -> dict[str, bool]:
        """Owned pack ids -> whether owned because free (read now, never cached)."""
        return (await self._read_holdings(account_id)).owned()

    async def _read_holdings(self, account_id: str) -> _Holdings:
        """The free catalog packs, the account's live entitlements and its activation rows."""
        free = await self.catalog.free_pack_ids()
        paid_until: dict[str, datetime | None] = {}
        async with self.db.read() as session:
            entitlements = (
                await session.execute(
                    select(Entitlement).where(
                        Entitlement.account_id == account_id, Entitlement.status == "active"
                    )
                )
            ).scalars()
            for row in entitlements:
                end = as_utc(row.current_period_end)
                if row.pack_id in paid_until:  # several active rows: the latest end wins
                    held = paid_until[row.pack_id]
                    end = None if held is None or end is None else max(held, end)
                paid_until[row.pack_id] = end
            activations = (
                await session.execute(select(Activation).where(Activation.account_id == account_id))
            ).scalars()
            switches = {row.pack_id: row.active for row in activations}
        return _Holdings(free=free, paid_until=paid_until, switches=switches)

    async def activate(self, account_id: str, pack_id: str) -> None:
        """Use an owned pack in the account's assistant.

        Raises:
            PackNotFound: the pack is not in the catalog and not owned.
            EntitlementRequired: the account does not own the pack.
        """
        await self._switch(account_id, pack_id, True)

    async def deactivate(self, account_id: str, pack_id: str) -> None:
        """Stop using a pack; the entitlement itself is kept."""
        await self._switch(account_id, pack_id, False)

    async def _switch(self, account_id: str, pack_id: str, active: bool) -> None:
        if pack_id not in await self._owned(account_id):
            entry = await self.catalog.get(pack_id)  # PackNotFound for an unknown pack
            raise EntitlementRequired(
                f"account does not own pack {pack_id!r} ({entry.name}); buy it first"
            )
        async with self.db.write() as session:
            statement = insert_for(session, Activation).values(
                account_id=account_id, pack_id=pack_id, active=active, updated_at=utcnow_()
            )
            statement = statement.on_conflict_do_update(
                index_elements=["account_id", "pack_id"],
                set_={"active": active, "updated_at": utcnow_()},
            )
            await session.execute(statement)
            audit(
                session,
                "pack.activated" if active else "pack.deactivated",
                account_id=account_id,
                pack_id=pack_id,
            )

    async def list_entitlements(self, account_id: str) -> list[EntitlementInfo]:
        """The account's packs: free catalog packs and every live or past entitlement row."""
        readable_active = await self.readable_pack_ids(account_id, active_only=True)
        readable = await self.readable_pack_ids(account_id, active_only=False)
        result: dict[str, EntitlementInfo] = {}
        for entry in await self.catalog.catalog():
            if entry.is_free:
                result[entry.pack_id] = EntitlementInfo(
                    pack_id=entry.pack_id,
                    source="free",
                    status="active",
                    current_period_end=None,
                    active=entry.pack_id in readable_active,
                    readable=True,
                )
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Entitlement)
                    .where(Entitlement.account_id == account_id)
                    .order_by(Entitlement.entitlement_id)
                )
            ).scalars()
            for row in rows:
                held = result.get(row.pack_id)
                # A live row wins over older terminal rows of the same pack.
                if held is not None and held.status == "active" and row.status != "active":
                    continue
                result[row.pack_id] = EntitlementInfo(
                    pack_id=row.pack_id,
                    source=row.source,
                    status=row.status,
                    current_period_end=as_utc(row.current_period_end),
                    active=row.pack_id in readable_active,
                    readable=row.pack_id in readable,
                )
        return [result[pack_id] for pack_id in sorted(result)]
