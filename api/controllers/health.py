"""Liveness and readiness (public)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Request, Response, get

from api.auth import PUBLIC


@get("/healthz", opt=PUBLIC, operation_id="health", tags=["ops"], sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", opt=PUBLIC, operation_id="ready", tags=["ops"], sync_to_thread=False)
def readyz(request: Request) -> Response[dict[str, Any]]:
    """Packs and models are loaded: 200, else 503. Lists the packs served and the approved
    ones skipped because they failed to load (with the error)."""
    services = getattr(request.app.state, "services", None)
    ready = bool(services and services.ready)
    body: dict[str, Any] = {"status": "ready" if ready else "starting"}
    if services is not None:
        body["packs"] = sorted(services.packs)
        body["intent_model"] = services.classifier is not None
        # Approved packs that failed to load: the server runs without them until an operator
        # withdraws them (POST /v1/admin/packs/{pack_id}/versions/{version}/withdraw).
        body["skipped"] = [asdict(skipped) for skipped in services.skipped_packs]
    return Response(body, status_code=200 if ready else 503)
