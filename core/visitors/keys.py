"""Publishable widget keys: create, list, revoke, and authenticate one for a browser origin.

A widget key can only ask, and only from a page of one of the business's allowed origins: the
browser sends ``Origin`` and a page cannot forge it. A script outside a browser can send any
``Origin``, which is why the widget route is also rate limited per visitor and per key.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select

from core.errors import AuthenticationError, NotFound, OriginNotAllowed, ValidationError
from core.ledger.common import as_utc, audit
from core.ledger.db import Database
from core.ledger.models import utcnow
from core.visitors.models import WidgetKey

WIDGET_KEY_PATTERN = re.compile(r"^pk_[A-Za-z0-9_-]{20,60}$")
MAX_ORIGINS_PER_KEY = 10
MAX_LIVE_KEYS_PER_ACCOUNT = 20
MAX_ORIGIN_CHARS = 200
MAX_LABEL_CHARS = 100
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class WidgetKeyInfo:
    widget_key: str
    label: str
    allowed_origins: list[str]
    created_at: datetime
    revoked: bool


@dataclass(frozen=True)
class WidgetPrincipal:
    """Who a widget request asks for: the business's account, through one key."""

    account_id: str
    widget_key: str


def normalize_origin(text: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower case, no default
    port), from what a business typed.

    Raises:
        ValidationError: not an http(s) origin, or it has a path, query, fragment or user.
    """
    raw = text.strip()
    if not raw or len(raw) > MAX_ORIGIN_CHARS:
        raise ValidationError(f"an origin must be 1 to {MAX_ORIGIN_CHARS} characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"{raw!r} is not an origin: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValidationError(
            f"{raw!r} is not an origin: expected http(s)://host[:port], e.g. https://example.com"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValidationError(
            f"{raw!r} is not an origin: only scheme, host and port (no path, query or user)"
        )
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalize_origins(origins: list[str]) -> list[str]:
    """Each origin normalised, duplicates dropped, order kept; at least one, at most ten."""
    cleaned = list(dict.fromkeys(normalize_origin(o) for o in origins if o.strip()))
    if not cleaned:
        raise ValidationError("a widget key needs at least one allowed origin")
    if len(cleaned) > MAX_ORIGINS_PER_KEY:
        raise ValidationError(
            f"{len(cleaned)} origins given; a widget key allows at most {MAX_ORIGINS_PER_KEY}"
        )
    return cleaned


class WidgetKeyService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, account_id: str, origins: list[str], label: str = "") -> WidgetKeyInfo:
        """A new key for ``account_id`` allowed on ``origins``.

        Raises:
            ValidationError: a bad origin or label, or the account has too many live keys.
        """
        allowed = normalize_origins(origins)
        label = label.strip()
        if len(label) > MAX_LABEL_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in label):
            raise ValidationError(
                f"a key label is one line of at most {MAX_LABEL_CHARS} characters"
            )
        widget_key = "pk_" + secrets.token_urlsafe(24)
        async with self._db.write(changes_access=False) as session:
            live = await session.scalar(
                select(func.count())
                .select_from(WidgetKey)
                .where(WidgetKey.account_id == account_id, WidgetKey.revoked_at.is_(None))
            )
            if (live or 0) >= MAX_LIVE_KEYS_PER_ACCOUNT:
                raise ValidationError(
                    f"an account has at most {MAX_LIVE_KEYS_PER_ACCOUNT} live widget keys: "
                    "revoke one first"
                )
            row = WidgetKey(
                widget_key=widget_key,
                account_id=account_id,
                label=label or "widget",
                allowed_origins=allowed,
                created_at=utcnow(),
            )
            session.add(row)
            audit(session, "widget_key.created", account_id=account_id, widget_key=widget_key)
        return _info(row)

    async def list_keys(self, account_id: str) -> list[WidgetKeyInfo]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(WidgetKey)
                .where(WidgetKey.account_id == account_id)
                .order_by(WidgetKey.created_at.desc())
            )
            return [_info(row) for row in rows]

    async def revoke(self, account_id: str, widget_key: str) -> None:
        """Revoke one of the account's keys (another account's key is 404, as unknown)."""
        async with self._db.write(changes_access=False) as session:
            row = await session.get(WidgetKey, widget_key)
            if row is None or row.account_id != account_id:
                raise NotFound(f"no widget key {widget_key!r} on this account")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                audit(session, "widget_key.revoked", account_id=account_id, widget_key=widget_key)

    async def authenticate(self, widget_key: str, origin: str | None) -> WidgetPrincipal:
        """The business behind ``widget_key``, if ``origin`` is one of the key's origins.

        Raises:
            AuthenticationError: malformed, unknown or revoked key.
            OriginNotAllowed: no ``Origin``, or one the key does not allow.
        """
        if not WIDGET_KEY_PATTERN.match(widget_key):
            raise AuthenticationError("not a widget key (expected pk_...)")
        async with self._db.read() as session:
            row = await session.get(WidgetKey, widget_key)
        if row is None or row.revoked_at is not None:
            raise AuthenticationError("unknown or revoked widget key")
        if origin is None:
            raise OriginNotAllowed("a widget key is used only from a web page (no Origin sent)")
        try:
            normalized = normalize_origin(origin)
        except ValidationError as exc:
            raise OriginNotAllowed(f"origin {origin[:200]!r} is not allowed") from exc
        if normalized not in row.allowed_origins:
            raise OriginNotAllowed(f"origin {normalized!r} is not allowed for this widget key")
        return WidgetPrincipal(account_id=row.account_id, widget_key=row.widget_key)


def _info(row: WidgetKey) -> WidgetKeyInfo:
    created = as_utc(row.created_at)
    assert created is not None
    return WidgetKeyInfo(
        widget_key=row.widget_key,
        label=row.label,
        allowed_origins=list(row.allowed_origins),
        created_at=created,
        revoked=row.revoked_at is not None,
    )
