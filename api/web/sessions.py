"""Browser sessions: a server-side store in the database, a session id rotated at sign-in, and
the guard of the signed-in pages.

The cookie holds only a random session id (HttpOnly, SameSite=Lax, Secure when the public URL
is https); the session holds the account, its scope and the *prefix* of the API key used to
sign in, never the key. Litestar's server-side backend keeps whatever id the browser sends,
which would let a planted cookie become a signed-in session (session fixation); the backend
below issues a fresh id whenever the id sent is unknown to the store, and at every sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store

from core.browser_sessions import SessionRecords
from core.settings import Settings

SESSION_STORE = "browser_sessions"
SESSION_COOKIE = "packdesk_session"
# Scope state keys: the id the session was loaded under, and a sign-in's request to rotate it.
_LOADED_ID = "web_session_loaded_id"
_ROTATE = "web_session_rotate"
_NEW_ID = "web_session_new_id"


class DatabaseSessionStore(Store):
    """Litestar's store interface over :class:`core.browser_sessions.SessionRecords`, so every
    server process sees the same sessions."""

    def __init__(self, records: SessionRecords | None = None) -> None:
        self.records = records

    def _records(self) -> SessionRecords:
        if self.records is None:
            raise RuntimeError("the session store is used before the services started")
        return self.records

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else value
        if isinstance(expires_in, int):
            expires_in = timedelta(seconds=expires_in)
        await self._records().set(key, data, expires_in=expires_in)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        if isinstance(renew_for, int):
            renew_for = timedelta(seconds=renew_for)
        return await self._records().get(key, renew_for=renew_for)

    async def delete(self, key: str) -> None:
        await self._records().delete(key)

    async def delete_all(self) -> None:
        await self._records().delete_all()

    async def exists(self, key: str) -> bool:
        return await self._records().get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        from core.ledger.models import utcnow

        moment = await self._records().expires_at(key)
        return None if moment is None else int((moment - utcnow()).total_seconds())


class RotatingSessionBackend(ServerSideSessionBackend):
    """Keeps a session id only when the store knew it and no sign-in asked for a new one."""

    def get_session_id(self, connection: ASGIConnection) -> str:
        state = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
        sent = connection.cookies.get(self.config.key)
        if sent and state.get(_LOADED_ID) == sent and not state.get(_ROTATE):
            return sent
        if not state.get(_NEW_ID):
            state[_NEW_ID] = self.generate_session_id()
        return str(state[_NEW_ID])

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        sent = connection.cookies.get(self.config.key)
        if sent and len(sent) <= 2 * self.config.session_id_bytes:
            store = self.config.get_store_from_app(connection.scope["app"])
            data = await self.get(sent, store=store)
            if data is not None:
                connection.scope.setdefault("state", {})[_LOADED_ID] = sent  # type: ignore[typeddict-item]
                return self.deserialize_data(data)
        return {}

    async def store_in_message(self, scope_session: Any, message: Any, connection: Any) -> None:
        state = connection.scope.get("state", {})
        old = state.get(_LOADED_ID)
        if old and state.get(_ROTATE):
            # The pre-sign-in id is dead from now on, whoever else holds it.
            await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)


class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend  # type: ignore[assignment]


def session_config(settings: Settings) -> RotatingSessionConfig:
    return RotatingSessionConfig(
        key=SESSION_COOKIE,
        store=SESSION_STORE,
        max_age=int(settings.web_session_hours * 3600),
        httponly=True,
        secure=settings.public_base_url.startswith("https://"),
        samesite="lax",
        # Only the pages use it: the bearer-key API never reads or sets a session cookie.
        exclude=[
            "^/v1/",
            "^/static/",
            "^/widget.js",
            "^/healthz",
            "^/readyz",
            "^/metrics",
            "^/schema",
        ],
    )


@dataclass(frozen=True)
class WebUser:
    """Who a browser is signed in as."""

    account_id: str
    scope: str
    name: str
    key_prefix: str


def rotate_session(connection: ASGIConnection) -> None:
    """Ask for a new session id for this response (sign-in and sign-out)."""
    connection.scope.setdefault("state", {})[_ROTATE] = True  # type: ignore[typeddict-item]


def sign_in(connection: ASGIConnection, user: WebUser) -> None:
    rotate_session(connection)
    connection.scope["session"] = {  # type: ignore[typeddict-unknown-key]
        "account_id": user.account_id,
        "scope": user.scope,
        "name": user.name,
        "key_prefix": user.key_prefix,
    }


def current_user(connection: ASGIConnection) -> WebUser | None:
    """The signed-in user as the session says (the key's liveness is the guard's job)."""
    session = connection.scope.get("session")
    if not isinstance(session, dict) or "account_id" not in session:
        return None
    return WebUser(
        account_id=str(session["account_id"]),
        scope=str(session["scope"]),
        name=str(session.get("name", "")),
        key_prefix=str(session["key_prefix"]),
    )


class SignInRequired(NotAuthorizedException):
    """No live signed-in session of the needed scope: pages redirect to /sign-in."""


def session_guard(*scopes: str) -> Any:
    """A guard admitting a browser signed in with a live key of one of ``scopes``."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = current_user(connection)
        if user is None or user.scope not in scopes:
            raise SignInRequired(f"sign in with a {' or '.join(scopes)} key")
        from api.web.services import web_of

        records = web_of(connection.app.state).sessions
        if not await records.api_key_live(user.key_prefix):
            connection.scope["session"] = {}  # type: ignore[typeddict-unknown-key]
            raise SignInRequired("the key this browser signed in with was revoked")
        connection.state.web_user = user
        connection.scope.setdefault("state", {})["account_id"] = user.account_id  # type: ignore[typeddict-item]

    return guard


# Routes of the web pages (not of the API): they state their auth like every route, and say
# they are pages, which the OpenAPI document (the API's contract) leaves out.
PAGE = {"page": True}


def page_opt(auth: str) -> dict[str, object]:
    return {"auth": auth, **PAGE}
