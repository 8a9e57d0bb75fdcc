"""Bearer API-key authentication and scope checks.

Every route states its auth: public routes carry ``opt={"auth": "public"}``; every other
controller carries a scope guard (``guards=[scope_guard("customer")]``) and ``opt`` naming the
scope, and its handlers receive the authenticated ``principal``. Guards run before the request
body is parsed, so an unauthenticated caller learns nothing about a route's input rules.
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Components, SecurityScheme

from api.dependencies import services_of
from core.errors import AuthenticationError, PermissionDenied
from core.ledger.accounts import KEY_PATTERN, Principal

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
        principal = await authenticated(connection, token)
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


# Where the rate-limit middleware leaves the caller it resolved (in the ASGI scope's state).
RATE_LIMIT_IDENTITY = "rate_limit_identity"
# The (token, principal) the rate limit authenticated, for the route's guard to reuse.
AUTHENTICATED = "authenticated"


async def authenticated(connection: ASGIConnection, token: str) -> Principal:
    """The principal of ``token``, authenticated once per request: the rate limit does it
    first and leaves it in the request's scope, the route's guard reuses it.

    Raises:
        AuthenticationError: see :meth:`core.ledger.accounts.AccountService.authenticate`.
    """
    state = connection.scope.setdefault("state", {})
    known = state.get(AUTHENTICATED)
    if known is not None and known[0] == token:
        return cast(Principal, known[1])
    principal = await services_of(connection.app.state).accounts.authenticate(token)
    state[AUTHENTICATED] = (token, principal)
    return principal


async def resolve_rate_limit_identity(connection: ASGIConnection) -> str:
    """Who a request counts against: a valid API key (by its public prefix), else the client.

    Only a key that has the right shape *and* authenticates names its own bucket (valid keys
    come from the access cache, so this costs no query). A missing, malformed, unknown or
    revoked token counts against the client address: a new random token per request no longer
    gets a new limit (nor a new entry in the store).
    """
    token = bearer_token(connection)
    if token is not None and KEY_PATTERN.match(token):
        try:
            principal = await authenticated(connection, token)
        except AuthenticationError:
            pass
        else:
            return "key:" + principal.key_prefix
    return client_identity(connection)


def client_identity(connection: ASGIConnection) -> str:
    """The client address; an IPv6 client by its /64, the block one host usually holds."""
    host = connection.client.host if connection.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "addr:" + host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "addr:" + str(address.ipv4_mapped)
        return "addr:" + str(ipaddress.ip_network(f"{address}/64", strict=False))
    return "addr:" + str(address)


def rate_limit_identifier(request: Request) -> str:
    """The rate-limit identifier of a request: what :func:`resolve_rate_limit_identity` found
    (``api/rate_limit.py`` runs it first), else the client address. Never the token itself."""
    identity = request.scope.get("state", {}).get(RATE_LIMIT_IDENTITY)
    return identity if isinstance(identity, str) else client_identity(request)
