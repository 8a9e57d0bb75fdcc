"""Transfer reversals: the publisher's share of money that went back, taken back at the provider.

The earnings ledger records, with each refund or lost dispute, what the charge's transfer must
have been reversed by in total (``transfer_reversals``, written in the event's transaction).
After the event commits, :class:`ReversalSettler` asks the provider for what is still missing.
One transfer is settled at a time (a lock per transfer in this process, and a PostgreSQL
advisory lock across processes), up to the highest total the ledger asks for, so concurrent
refunds never reverse more than went back; a refused call stays pending and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

from sqlalchemy import select

from core.errors import BillingProviderUnavailable
from core.ledger.billing import BillingProvider, PayoutProvider
from core.ledger.common import audit, utcnow_
from core.ledger.db import Database
from core.ledger.models import TransferReversal


def reversal_key(row: TransferReversal) -> str:
    """What a reversal is serialised by: its transfer, else the charge it is resolved from."""
    return row.transfer_ref or row.charge_ref or f"event:{row.event_id}"


class ReversalSettler:
    """Settles pending transfer reversals with the billing provider in use."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._locks: dict[str, asyncio.Lock] = {}

    async def settle(
        self, provider: BillingProvider, *, event_id: str | None = None
    ) -> list[str]:
        """Ask the provider for the transfer reversals the earnings ledger owes (those of one
        event's transfer, or every pending one); returns what was done per transfer.

        Reversals of one transfer are settled one at a time (a lock per transfer: in process,
        and a PostgreSQL advisory lock across processes), each up to the highest total the
        ledger asks for, so concurrent refunds never reverse more than went back. A failed call
        leaves them pending with the error; calling again retries.
        """
        name = provider.name
        if not isinstance(provider, PayoutProvider):
            return []
        async with self.db.read() as session:
            query = select(TransferReversal).where(
                TransferReversal.status == "pending",
                TransferReversal.provider == name,
            )
            if event_id is not None:
                query = query.where(TransferReversal.event_id == event_id)
            keys = sorted(
                {reversal_key(row) for row in (await session.execute(query)).scalars()}
            )
        done: list[str] = []
        for key in keys:
            async with self._reversal_turn(key):
                outcome = await self._settle_transfer(provider, name, key)
            if outcome is not None:
                done.append(outcome)
        return done

    async def _settle_transfer(
        self, provider: PayoutProvider, provider_name: str, key: str
    ) -> str | None:
        async with self.db.read() as session:
            rows = [
                row
                for row in (
                    await session.execute(
                        select(TransferReversal).where(
                            TransferReversal.status == "pending",
                            TransferReversal.provider == provider_name,
                            (TransferReversal.transfer_ref == key)
                            | (TransferReversal.charge_ref == key),
                        )
                    )
                ).scalars()
                if reversal_key(row) == key
            ]
        if not rows:
            return None  # settled by another call meanwhile
        target = max(rows, key=lambda row: row.target_reversed)
        error = reversal_ref = None
        try:
            reversal_ref = await provider.reverse_transfer(
                charge_ref=target.charge_ref,
                transfer_ref=target.transfer_ref,
                target_reversed=target.target_reversed,
                idempotency_key=f"packdesk-reversal-{key}",
            )
        except BillingProviderUnavailable as exc:
            error = exc.message
        async with self.db.write(changes_access=False) as session:
            for item in rows:
                row = await session.get(TransferReversal, item.event_id)
                if row is None or row.status != "pending":
                    continue
                row.attempts += 1
                row.updated_at = utcnow_()
                row.error = error
                if error is None:
                    row.status, row.reversal_ref = "done", reversal_ref
            audit(
                session,
                "transfer.reversed" if error is None else "transfer.reversal_failed",
                transfer=target.transfer_ref,
                charge=target.charge_ref,
                target_reversed=target.target_reversed,
                reversal=reversal_ref,
                error=error,
                events=[row.event_id for row in rows],
            )
        return f"{key}: {error or reversal_ref or 'nothing missing'}"

    @contextlib.asynccontextmanager
    async def _reversal_turn(self, key: str) -> AsyncIterator[None]:
        """One settlement of a transfer at a time: in this process, and on PostgreSQL in every
        process (an advisory lock on its own connection, not held by any write)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self.db.is_sqlite:
                yield
                return
            from sqlalchemy import text

            lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            async with self.db.engine.connect() as connection:
                await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
                try:
                    yield
                finally:
                    await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
                    await connection.commit()

