"""Accounts, API keys (hashed, shown once, revocable) and publishers' signing keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, cast

from sqlalchemy import select

from core.errors import (
    AuthenticationError,
    Conflict,
    KeyProofInvalid,
    NotFound,
    SigningKeyError,
    ValidationError,
)
from core.ledger.access_cache import AccessCache
from core.ledger.common import as_utc, audit, utcnow_
from core.ledger.db import Database
from core.ledger.models import Account, ApiKey, PublisherKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Scope = Literal["customer", "publisher", "admin"]
SCOPES: tuple[str, ...] = ("customer", "publisher", "admin")
KEY_PATTERN = re.compile(r"^pd_([0-9a-f]{12})_([A-Za-z0-9_-]{40,64})$")
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")  # a publisher key id (core.packs.signing.key_id_of)


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

    async def register_publisher_key(
        self, account_id: str, public_key: bytes | str, signature: str | None
    ) -> str:
        """Register an Ed25519 public key (PEM, raw 32 bytes, hex or base64) for a publisher.

        Args:
            account_id: the publisher registering the key.
            public_key: the key.
            signature: the proof of possession: base64 of the Ed25519 signature, by the private
                key, of :func:`core.packs.signing.key_registration_challenge` of ``account_id``
                (``packdesk keys prove`` prints it).
        Returns:
            the key id (first 16 hex chars of SHA-256 over the raw key).
        Raises:
            ValidationError: not an Ed25519 public key.
            KeyProofInvalid: the signature is missing, not base64 of 64 bytes, or does not verify
                (made by another key, or for another account). Nothing is stored.
            NotFound: the account does not exist.
            Conflict: the key is registered by another account, or it was revoked.
        """
        from cryptography.hazmat.primitives import serialization

        from core.packs.signing import key_id_of, public_key_from_pem_or_raw

        try:
            key = public_key_from_pem_or_raw(public_key)
        except SigningKeyError as exc:
            raise ValidationError(f"public key rejected: {exc.message}") from exc
        key_id = key_id_of(key)
        _check_key_proof(key, key_id, account_id, signature)
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        async with self.db.write() as session:
            if await session.get(Account, account_id) is None:
                raise NotFound(f"account {account_id!r} does not exist")
            existing = await session.get(PublisherKey, key_id)
            if existing is not None:
                if existing.account_id != account_id:
                    raise Conflict(f"key {key_id} is registered to another publisher")
                if existing.revoked_at is not None:
                    # A revoked key stays revoked: it may be in other hands now.
                    raise Conflict(f"key {key_id} was revoked; register a new key")
                return key_id
            session.add(PublisherKey(key_id=key_id, account_id=account_id, public_key=raw))
            audit(session, "publisher_key.registered", account_id=account_id, key_id=key_id)
        return key_id

    async def revoke_publisher_key(self, account_id: str, key_id: str) -> None:
        """Revoke one of this publisher's signing keys (audited): it verifies no new upload.

        Raises:
            NotFound: no such key, or the key of another account (the two are not told apart).
            Conflict: the key was revoked already.
        """
        unknown = NotFound(f"no publisher key {key_id!r} registered to this account")
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise unknown
        async with self.db.write() as session:
            row = await session.get(PublisherKey, key_id)
            if row is None or row.account_id != account_id:
                raise unknown
            if row.revoked_at is not None:
                raise Conflict(f"publisher key {key_id} was revoked already")
            row.revoked_at = utcnow_()
            audit(session, "publisher_key.revoked", account_id=account_id, key_id=key_id)

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


def _check_key_proof(
    key: Ed25519PublicKey, key_id: str, account_id: str, signature: str | None
) -> None:
    from core.packs.signing import is_valid_signature, key_registration_challenge

    how = (
        "send the base64 Ed25519 signature, by this key, of the bytes "
        "'packdesk publisher key registration\\n' + your account id "
        "(`packdesk keys prove --key KEY --account ACCOUNT_ID` prints it)"
    )
    if not signature or not signature.strip():
        raise KeyProofInvalid(f"no proof of possession for key {key_id}: {how}")
    try:
        decoded = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyProofInvalid(
            f"proof for key {key_id} is not base64: {signature!r:.40}; {how}"
        ) from exc
    if len(decoded) != 64:
        raise KeyProofInvalid(
            f"proof for key {key_id} is {len(decoded)} bytes, an Ed25519 signature is 64; {how}"
        )
    if not is_valid_signature(key, decoded, key_registration_challenge(account_id)):
        raise KeyProofInvalid(
            f"proof for key {key_id} does not verify: not signed by this key's private key, or "
            f"not for account {account_id}; {how}"
        )


def _info(account: Account) -> AccountInfo:
    return AccountInfo(
        account_id=account.account_id,
        name=account.name,
        scope=cast(str, account.scope),
        created_at=cast(datetime, as_utc(account.created_at)),
    )
