"""Accounts, API keys (hashed, shown once, revocable) and publishers' signing keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import select

from core.errors import AuthenticationError, Conflict, NotFound, SigningKeyError, ValidationError
from core.ledger.access_cache import AccessCache
from core.ledger.common import as_utc, audit, utcnow_
from core.ledger.db import Database
from core.ledger.models import Account, ApiKey, PublisherKey

Scope = Literal["customer", "publisher", "admin"]
SCOPES: tuple[str, ...] = ("customer", "publisher", "admin")
KEY_PATTERN = re.compile(r"^pd_([0-9a-f]{12})_([A-Za-z0-9_-]{40,64})$")


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    name: str
    scope: str
    created_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account behind a valid API key."""

    account_id: str
    scope: str
    key_prefix: str


def hash_key(api_key: str) -> str:
    # The secret part has 256 bits of entropy, so a plain SHA-256 is enough (no slow KDF needed).
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class AccountService:
    """Creates accounts and keys, authenticates API keys, manages publisher signing keys."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Valid keys only, by hash (never the key itself); any ledger write (a revocation
        # included) invalidates them at once in this process.
        self._principals: AccessCache[Principal] = AccessCache(
            db, db.settings.access_cache_seconds
        )

    async def create_account(self, name: str, scope: str) -> tuple[AccountInfo, str]:
        """Create an account with one API key.

        Returns:
            (the account, the plaintext API key ``pd_<prefix>_<secret>``: shown only this once).
        Raises:
            ValidationError: empty name or unknown scope.
        """
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError(f"account name must be 1-200 characters, got {name!r}")
        if scope not in SCOPES:
            raise ValidationError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        account = Account(account_id=f"acc_{secrets.token_hex(12)}", name=name, scope=scope)
        async with self.db.write() as session:
            session.add(account)
            await session.flush()
            api_key = self._new_key(session, account.account_id, scope)
            audit(session, "account.created", account_id=account.account_id, scope=scope)
        return _info(account), api_key

    async def create_key(self, account_id: str) -> str:
        """Issue another API key for an existing account (plaintext returned once)."""
        async with self.db.write() as session:
            account = await session.get(Account, account_id)
            if account is None:
                raise NotFound(f"account {account_id!r} does not exist")
            return self._new_key(session, account_id, account.scope)

    def _new_key(self, session, account_id: str, scope: str) -> str:  # type: ignore[no-untyped-def]
        prefix = secrets.token_hex(6)
        api_key = f"pd_{prefix}_{secrets.token_urlsafe(32)}"
        session.add(
            ApiKey(account_id=account_id, prefix=prefix, key_hash=hash_key(api_key), scope=scope)
        )
        audit(session, "api_key.created", account_id=account_id, prefix=prefix)
        return api_key

    async def get_account(self, account_id: str) -> AccountInfo:
        async with self.db.read() as session:
            account = await session.get(Account, account_id)
        if account is None:
            raise NotFound(f"account {account_id!r} does not exist")
        return _info(account)

    async def authenticate(self, api_key: str | None) -> Principal:
        """Resolve an API key to its account.

        Raises:
            AuthenticationError: missing, malformed, unknown or revoked key (messages never echo
                the secret).
        """
        if not api_key:
            raise AuthenticationError("no API key given")
        match = KEY_PATTERN.match(api_key.strip())
        if match is None:
            raise AuthenticationError("malformed API key: expected pd_<prefix>_<secret>")
        prefix, key_hash = match.group(1), hash_key(api_key.strip())
        return await self._principals.get(key_hash, lambda: self._lookup(prefix, key_hash))

    async def _lookup(self, prefix: str, key_hash: str) -> Principal:
        async with self.db.read() as session:
            row = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar()
        if row is None or not hmac.compare_digest(row.key_hash, key_hash):
            raise AuthenticationError(f"unknown API key (prefix {prefix})")
        if row.revoked_at is not None:
            raise AuthenticationError(f"API key {prefix} was revoked")
        return Principal(account_id=row.account_id, scope=row.scope, key_prefix=prefix)

    async def revoke_key(self, prefix: str) -> None:
        """Revoke the key with this visible prefix (idempotent for an already revoked key).

        Raises:
            NotFound: no key has this prefix.
        """
        async with self.db.write() as session:
            row = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar()
            if row is None:
                raise NotFound(f"no API key with prefix {prefix!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow_()
                audit(session, "api_key.revoked", account_id=row.account_id, prefix=prefix)

    async def register_publisher_key(self, account_id: str, public_key: bytes | str) -> str:
        """Register an Ed25519 public key (PEM, raw 32 bytes, hex or base64) for a publisher.

        Returns:
            the key id (first 16 hex chars of SHA-256 over the raw key).
        Raises:
            ValidationError: not an Ed25519 public key.
            NotFound: the account does not exist.
            Conflict: the key is already registered by another account.
        """
        from cryptography.hazmat.primitives import serialization

        from core.packs.signing import key_id_of, public_key_from_pem_or_raw

        try:
            key = public_key_from_pem_or_raw(public_key)
        except SigningKeyError as exc:
            raise ValidationError(f"public key rejected: {exc.message}") from exc
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key_id = key_id_of(key)
        async with self.db.write() as session:
            if await session.get(Account, account_id) is None:
                raise NotFound(f"account {account_id!r} does not exist")
            existing = await session.get(PublisherKey, key_id)
            if existing is not None:
                if existing.account_id != account_id:
                    raise Conflict(f"key {key_id} is registered to another publisher")
                return key_id
            session.add(PublisherKey(key_id=key_id, account_id=account_id, public_key=raw))
            audit(session, "publisher_key.registered", account_id=account_id, key_id=key_id)
        return key_id

    async def publisher_public_keys(self, account_id: str) -> dict[str, bytes]:
        """The account's unrevoked signing keys: key id -> raw 32-byte Ed25519 public key."""
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(PublisherKey).where(
                        PublisherKey.account_id == account_id, PublisherKey.revoked_at.is_(None)
                    )
                )
            ).scalars()
            return {row.key_id: bytes(row.public_key) for row in rows}


def _info(account: Account) -> AccountInfo:
    return AccountInfo(
        account_id=account.account_id,
        name=account.name,
        scope=cast(str, account.scope),
        created_at=cast(datetime, as_utc(account.created_at)),
    )
