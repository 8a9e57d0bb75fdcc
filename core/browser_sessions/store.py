"""Key/value records with an expiry, for browser sessions: shared by every server process
through the database, so a sign-in on one node is seen by all and a sign-out ends it on all."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from core.browser_sessions.models import BrowserSession
from core.ledger.common import as_utc
from core.ledger.db import Database
from core.ledger.models import ApiKey, utcnow

# The serialised session of one browser: a few ids and flags. Anything larger is not ours.
MAX_SESSION_BYTES = 16 * 1024


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionRecords:
    """Get, set and delete session data by session id; expired rows read as absent and are
    purged as new sessions are written."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, session_id: str, *, renew_for: timedelta | None = None) -> bytes | None:
        key = session_hash(session_id)
        async with self._db.read() as session:
            row = await session.get(BrowserSession, key)
            if row is None or _expired(row.expires_at):
                return None
            data = row.data
        if renew_for is not None:
            await self._touch(key, utcnow() + renew_for)
        return data

    async def set(self, session_id: str, data: bytes, *, expires_in: timedelta | None) -> None:
        if len(data) > MAX_SESSION_BYTES:
            raise ValueError(f"session data of {len(data)} bytes exceeds {MAX_SESSION_BYTES}")
        key = session_hash(session_id)
        now = utcnow()
        expires_at = now + expires_in if expires_in is not None else None
        async with self._db.write(changes_access=False) as session:
            # Purging here keeps the table to the live sessions without a sweeper task.
            await session.execute(delete(BrowserSession).where(BrowserSession.expires_at < now))
            row = await session.get(BrowserSession, key)
            if row is None:
                session.add(
                    BrowserSession(
                        session_hash=key, data=data, expires_at=expires_at, updated_at=now
                    )
                )
            else:
                row.data, row.expires_at, row.updated_at = data, expires_at, now

    async def delete(self, session_id: str) -> None:
        async with self._db.write(changes_access=False) as session:
            key = session_hash(session_id)
            await session.execute(delete(BrowserSession).where(BrowserSession.session_hash == key))

    async def delete_all(self) -> None:
        async with self._db.write(changes_access=False) as session:
            await session.execute(delete(BrowserSession))

    async def expires_at(self, session_id: str) -> datetime | None:
        async with self._db.read() as session:
            result = await session.execute(
                select(BrowserSession.expires_at).where(
                    BrowserSession.session_hash == session_hash(session_id)
                )
            )
            return as_utc(result.scalar_one_or_none())

    async def api_key_live(self, key_prefix: str) -> bool:
        """Whether the API key a browser signed in with is still unrevoked: a revoked key ends
        its browser sessions at their next request."""
        async with self._db.read() as session:
            found = await session.scalar(
                select(ApiKey.key_id).where(
                    ApiKey.prefix == key_prefix, ApiKey.revoked_at.is_(None)
                )
            )
        return found is not None

    async def _touch(self, key: str, expires_at: datetime) -> None:
        async with self._db.write(changes_access=False) as session:
            row = await session.get(BrowserSession, key)
            if row is not None:
                row.expires_at = expires_at


def _expired(expires_at: datetime | None) -> bool:
    moment = as_utc(expires_at)
    return moment is not None and moment <= utcnow()
