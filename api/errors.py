"""The one mapping from domain errors to RFC 9457 problem responses. No stack trace leaves."""

from __future__ import annotations

import logging
import socket
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, InternalServerException, TooManyRequestsException
from litestar.exceptions import ValidationException as LitestarValidationException
from litestar.types import Receive, Scope, Send

from core import errors

logger = logging.getLogger("packdesk.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://packdesk.dev/problems/"

# Most specific first: the first class an error is an instance of decides its status.
STATUS_BY_ERROR: list[tuple[type[errors.PackDeskError], int]] = [
    (errors.AuthenticationError, 401),
    (errors.PermissionDenied, 403),
    (errors.EntitlementRequired, 402),
    (errors.PackNotFound, 404),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.ArchiveTooLarge, 413),
    (errors.PackVerificationError, 422),
    (errors.PackFormatError, 422),
    (errors.IndexMismatch, 409),
    (errors.KeyProofInvalid, 422),
    (errors.ValidationError, 422),
    (errors.WebhookSignatureError, 400),
    (errors.BillingProviderUnavailable, 503),
    (errors.BatcherClosed, 503),  # shutting down: retry on another instance
    (errors.ServiceUnavailable, 503),  # PostgreSQL or Redis briefly away: retry
    (errors.ConfigError, 500),
]


def problem(
    status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def status_for(error: errors.PackDeskError) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 500


def handle_domain_error(request: Request, exc: errors.PackDeskError) -> Response[dict[str, Any]]:
    status = status_for(exc)
    if status == 503:
        # A dependency briefly away or a server stopping: the caller retries; an outage must
        # not bury the log in errors.
        logger.warning("%s on %s: %s", exc.code, request.url.path, exc.message)
    elif status >= 500:
        logger.error("domain error %s on %s: %s", exc.code, request.url.path, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    return problem(status, exc.code, _title(exc), exc.message, headers)


def handle_http_error(request: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, TooManyRequestsException):
        headers.setdefault("Retry-After", headers.get("RateLimit-Reset", "1"))
        return problem(429, "rate-limited", "Too many requests", "rate limit exceeded", headers)
    if isinstance(exc, LitestarValidationException):
        detail = exc.detail
        if exc.extra:
            detail = f"{exc.detail}: {exc.extra}"
        return problem(422 if status == 400 else status, "invalid-input", "Invalid input", detail)
    if status == 400:
        # Litestar's other 400s are bodies it cannot decode (malformed JSON): invalid input,
        # like a body that decodes but fails validation.
        return problem(422, "invalid-input", "Invalid input", str(exc.detail))
    if unknown := _unknown_body_fields(exc):
        return problem(422, "invalid-input", "Invalid input",
                       f"unknown field(s) in the request: {', '.join(unknown)}")
    code = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(
        status, "http-error"
    )
    # The title names the problem type, so it stays the same for every error of that type.
    return problem(status, code, _status_phrase(status), str(exc.detail), headers or None)


def _unknown_body_fields(exc: HTTPException) -> list[str]:
    """The fields a client sent that its request model forbids, when Litestar took them for a
    failing dependency.

    Litestar decides whether a validation error is the client's (422) or the server's (500) by
    its key: a key equal to a dependency's name counts as the server's. The pydantic plugin
    reports a body model's errors without the ``data.`` prefix, so a body with an extra field
    named like one of the app's dependencies (``{"reason": "...", "payouts": 1}``) came back as
    a 500. An ``extra_forbidden`` error only ever comes from validating what the client sent
    against a strict model, never from a dependency's value: those are 422.
    """
    cause = exc.__cause__
    if not isinstance(exc, InternalServerException) or cause is None:
        return []
    problems = getattr(cause, "errors", None)
    if not isinstance(problems, list) or not problems:
        return []
    if not all(isinstance(p, dict) and p.get("type") == "extra_forbidden" for p in problems):
        return []
    return [".".join(str(part) for part in p.get("loc", ())) for p in problems]


def handle_unexpected(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    if is_dependency_outage(exc):
        # Not a bug: the database or Redis did not answer. Nothing was committed (a write
        # that did not reach its commit rolls back); the caller retries.
        logger.warning("dependency unavailable on %s: %s", request.url.path, _one_line(exc))
        unavailable = errors.ServiceUnavailable(
            "a service this request needs (the database or Redis) is briefly unavailable; retry"
        )
        return problem(503, unavailable.code, _title(unavailable), unavailable.message,
                       {"Retry-After": "1"})
    logger.exception("unhandled error on %s", request.url.path)
    return problem(500, "internal-error", "Internal error", "an unexpected error occurred")


def is_dependency_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it, or one error of a group) is a lost or refused
    connection to PostgreSQL or Redis, or a timeout waiting for one (a statement the server
    cancelled at ``statement_timeout`` included)."""
    import asyncpg
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    outages: tuple[type[BaseException], ...] = (
        ConnectionError,  # refused, reset, aborted
        socket.gaierror,  # the host name does not resolve
        TimeoutError,
        PoolTimeout,
        OperationalError,
        InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        # statement_timeout (a statement that ran, or waited for a lock, too long) or an
        # operator's pg_cancel_backend: the database did not answer in time.
        asyncpg.QueryCanceledError,
        RedisConnectionError,
        RedisTimeoutError,
    )
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        # A plain OSError is what asyncio raises when every address of a host refused.
        if isinstance(error, outages) or type(error) is OSError:
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        pending.extend(e for e in (error.__cause__, error.__context__) if e is not None)
    return False


async def answer_in_middleware(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Send the response the app's exception handlers give ``exc``, from inside a middleware.

    Litestar answers an exception that a middleware raises outside every middleware, so the ones
    around it (the request log, the metrics) never see that response: they recorded a 429 of
    the rate limit, or its 503 while Redis or the database is away, as a 500 or a 200.
    """
    app = scope["litestar_app"]
    handlers = app.exception_handlers
    handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
    handler = handler or next(
        (handlers[cls] for cls in type(exc).__mro__ if cls in handlers), handle_unexpected
    )
    request = app.request_class(scope=scope, receive=receive, send=send)
    response = handler(request, exc)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _title(exc: errors.PackDeskError) -> str:
    return exc.code.replace("-", " ").capitalize()


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


EXCEPTION_HANDLERS = {
    errors.PackDeskError: handle_domain_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
