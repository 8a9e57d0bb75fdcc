"""Shutdown drain: on SIGTERM, stop being ready before stopping serving.

A load balancer learns that a node is going away from ``/readyz``. On the first SIGTERM the
process reports 503 ``draining`` there for ``PACKDESK_SHUTDOWN_DRAIN_SECONDS`` while it keeps
serving every request that still arrives; then uvicorn's own shutdown runs (stop accepting, let
in-flight requests finish, then the lifespan's close: model batchers finish their queued
forward passes and the conversation turns queued for a group commit are written). A second
SIGTERM skips the rest of the drain.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

logger = logging.getLogger("packdesk.api")


def install_drain(services: Any, drain_s: float) -> None:
    """Put the drain in front of the server's SIGTERM handler (the main thread's, uvicorn's).

    Args:
        services: what ``/readyz`` reads; its ``draining`` is set on SIGTERM.
        drain_s: how long to stay up, not ready, before handing over to the server's shutdown.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # an in-process test client: no signals to take over
    server_handler = signal.getsignal(signal.SIGTERM)
    if not callable(server_handler):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: Any) -> None:
        if services.draining:  # asked twice: stop now
            server_handler(signum, frame)
            return
        services.draining = True
        logger.warning("SIGTERM: not ready; serving %.1f s more, then shutting down", drain_s)
        loop.call_soon_threadsafe(loop.call_later, drain_s, server_handler, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
