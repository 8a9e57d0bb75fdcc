"""Liveness and readiness (public)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from api.auth import PUBLIC


@get("/healthz", opt=PUBLIC, operation_id="health", tags=["ops"], sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", opt=PUBLIC, operation_id="ready", tags=["ops"], sync_to_thread=False)
def readyz(request: Request) -> Response[dict[str, Any]]:
    """Packs and models are loaded: 200, else 503."""
    services = getattr(request.app.state, "services", None)
    ready = bool(services and services.ready)
    body: dict[str, Any] = {"status": "ready" if ready else "starting"}
    if services is not None:
        body["packs"] = sorted(services.packs)
        body["intent_model"] = services.classifier is not None
    return Response(body, status_code=200 if ready else 503)
