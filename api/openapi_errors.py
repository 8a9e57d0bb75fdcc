"""Every route's error responses in the OpenAPI document, as the API sends them: problem JSON.

Litestar documents only a 400 of its own shape for validated routes, which this API never
sends (api/errors.py answers with RFC 9457 problem JSON). Clients and the fuzz suite read the
document, so each route lists the problems it can answer with: 401/403 on routes that need a key,
404, 409, 413 and 422 where input can name or carry something wrong, 429 for the rate limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Controller
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel, Field

from api.errors import PROBLEM_MEDIA_TYPE


class Problem(BaseModel):
    """An error (RFC 9457): ``type`` is stable and machine-readable, ``detail`` is for people."""

    type: str = Field(description="https://packdesk.dev/problems/<code>, stable")
    title: str
    status: int
    detail: str


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "No valid API key",
    403: "The key's scope may not use this route",
    404: "Not found (also another account's resource)",
    409: "Conflicts with the current state",
    413: "Too large",
    422: "Invalid input",
    429: "Rate limited (see Retry-After)",
}
# Liveness and readiness: no input, no key, not rate limited.
_UNLIMITED = {"/healthz", "/readyz"}


def _spec(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=_DESCRIPTIONS[status],
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )


def _statuses(handler: HTTPRouteHandler, secured: bool) -> set[int]:
    paths = handler.paths
    if paths & _UNLIMITED:
        return set()
    statuses = {400, 404, 422, 429}
    if secured:
        statuses |= {401, 403}
    if handler.http_methods & {"POST", "PUT", "DELETE"}:
        statuses |= {409, 413}
    return statuses


def _handlers(route_handlers: Iterable[Any]) -> Iterable[tuple[HTTPRouteHandler, bool]]:
    for item in route_handlers:
        if isinstance(item, type) and issubclass(item, Controller):
            secured = bool(getattr(item, "security", None))
            for value in vars(item).values():
                if isinstance(value, HTTPRouteHandler):
                    yield value, secured
        elif isinstance(item, HTTPRouteHandler):
            yield item, bool(item.security)


def document_error_responses(route_handlers: Iterable[Any]) -> None:
    """Add the problem responses to each handler's ``responses`` (kept where one is set)."""
    for handler, secured in _handlers(route_handlers):
        if not handler.include_in_schema:
            continue
        documented = dict(handler.responses or {})
        for status in _statuses(handler, secured):
            documented.setdefault(status, _spec(status))
        handler.responses = documented
