"""Liveness and readiness (public)."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from litestar import Request, Response, get

from api.auth import PUBLIC


@get("/healthz", opt=PUBLIC, operation_id="health", tags=["ops"], sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is up (liveness: touches nothing, so a busy database never fails it)."""
    return {"status": "ok"}


@get("/readyz", opt=PUBLIC, operation_id="ready", tags=["ops"], sync_to_thread=False)
def readyz(request: Request) -> Response[dict[str, Any]]:
    """Packs, models and the database are ready and the process is not shutting down: 200,
    else 503 (``starting`` or ``draining``). Lists the packs served and the approved ones
    skipped because they failed to load (with the error), and whether this process hears other
    processes' changes (``invalidation_live``; while false it reads access from the database
    on every request). Reads only memory: a load balancer may probe it often."""
    services = getattr(request.app.state, "services", None)
    draining = bool(services and services.draining)
    ready = bool(services and services.ready) and not draining
    status = "ready" if ready else "draining" if draining else "starting"
    # The worker that answered: with several workers on one port, which one is which.
    body: dict[str, Any] = {"status": status, "pid": os.getpid()}
    if services is not None:
        body["invalidation_live"] = services.db.invalidation_live
        body["packs"] = sorted(services.packs)
        body["intent_model"] = services.classifier is not None
        # Approved packs that failed to load: the server runs without them until an operator
        # withdraws them (POST /v1/admin/packs/{pack_id}/versions/{version}/withdraw).
        body["skipped"] = [asdict(skipped) for skipped in services.skipped_packs]
    return Response(body, status_code=200 if ready else 503)
