"""Bearer API-key authentication and scope checks. Every route states its auth explicitly:
public routes carry ``opt={"auth": "public"}``; the others depend on a scoped principal."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.di import Provide

from core.errors import AuthenticationError, PermissionDenied

PUBLIC = {"auth": "public"}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_scope(*scopes: str) -> Provide:
    """A dependency resolving the authenticated principal, refusing other scopes (403)."""

    async def provide_principal(request: Request) -> Any:
        token = bearer_token(request)
        if token is None:
            raise AuthenticationError("missing or malformed 'Authorization: Bearer <api key>'")
        principal = await request.app.state.services.accounts.authenticate(token)
        if principal.scope not in scopes:
            raise PermissionDenied(
                f"this route needs a {' or '.join(scopes)} key; the key given has scope "
                f"{principal.scope!r}"
            )
        request.scope.setdefault("state", {})["account_id"] = principal.account_id
        return principal

    return Provide(provide_principal)


def rate_limit_identifier(request: Request) -> str:
    """Rate limits are per API key (hashed, never logged in clear), else per client address."""
    token = bearer_token(request)
    if token:
        return "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    client = request.client
    return "addr:" + (client.host if client else "unknown")


ScopeCheck = Callable[[Request], Awaitable[Any]]
