"""Bearer API-key authentication and scope checks.

Every route states its auth: public routes carry ``opt={"auth": "public"}``; every other
controller carries a scope guard (``guards=[scope_guard("customer")]``) and ``opt`` naming the
scope, and its handlers receive the authenticated ``principal``. Guards run before the request
body is parsed, so an unauthenticated caller learns nothing about a route's input rules.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Components, SecurityScheme

from api.dependencies import services_of
from core.errors import AuthenticationError, PermissionDenied
from core.ledger.accounts import Principal

PUBLIC = {"auth": "public"}
BEARER_SCHEME = "BearerApiKey"
SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
SECURITY_COMPONENTS = Components(
    security_schemes={
        BEARER_SCHEME: SecurityScheme(
            type="http",
            scheme="bearer",
            description="A PackDesk API key: `Authorization: Bearer pd_<prefix>_<secret>`.",
        )
    }
)


def bearer_token(connection: ASGIConnection) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def scope_guard(*scopes: str) -> Any:
    """A guard admitting only API keys of ``scopes`` (401 without a valid key, 403 otherwise)."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        token = bearer_token(connection)
        if token is None:
            raise AuthenticationError("missing or malformed 'Authorization: Bearer <api key>'")
        principal = await services_of(connection.app.state).accounts.authenticate(token)
        if principal.scope not in scopes:
            raise PermissionDenied(
                f"this route needs a {' or '.join(scopes)} key; the key given has scope "
                f"{principal.scope!r}"
            )
        connection.state.principal = principal
        connection.scope.setdefault("state", {})["account_id"] = principal.account_id

    return guard


def _principal(request: Request) -> Principal:
    return cast(Principal, request.state.principal)


provide_principal = Provide(_principal, sync_to_thread=False)


class CustomerRoutes(Controller):
    """Base of controllers whose routes all need a customer key (stated in their OpenAPI)."""

    guards = [scope_guard("customer")]
    dependencies = {"principal": provide_principal}
    opt = {"auth": "customer"}
    security = SECURITY


class PublisherRoutes(Controller):
    """Base of controllers whose routes all need a publisher key."""

    guards = [scope_guard("publisher")]
    dependencies = {"principal": provide_principal}
    opt = {"auth": "publisher"}
    security = SECURITY


class AdminRoutes(Controller):
    """Base of controllers whose routes all need an admin key."""

    guards = [scope_guard("admin")]
    dependencies = {"principal": provide_principal}
    opt = {"auth": "admin"}
    security = SECURITY


def rate_limit_identifier(request: Request) -> str:
    """Rate limits are per API key (hashed, never logged in clear), else per client address."""
    token = bearer_token(request)
    if token:
        return "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    client = request.client
    return "addr:" + (client.host if client else "unknown")
