"""The app of one worker process of ``packdesk serve --workers N``.

Several workers run under uvicorn's multiprocess supervisor (see docs/deploy.md for why that
one): it binds the port once, starts N processes that each import this module and call
:func:`worker_app`, and starts a new one when a worker dies (``kill -9`` included). Each worker
builds its own services (models, indexes, caches) from the settings the ``serve`` command
resolved, passed here whole through :data:`SETTINGS_ENV`, so a worker serves exactly what a
single-process server would (``packdesk run``'s choices included).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.settings import Settings

SETTINGS_ENV = "PACKDESK_WORKER_SETTINGS"


def settings_to_env(settings: Settings) -> str:
    """The settings as JSON, secrets included (a worker needs them; they stay in the
    environment of the server's own processes, where ``PACKDESK_*`` secrets already are)."""
    return json.dumps(_plain(settings.model_dump()))


def worker_app() -> Any:
    """The ASGI app of this worker (an app factory for uvicorn)."""
    from api.app import create_app

    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate(json.loads(raw)) if raw else Settings()
    limit_blas_threads()
    return create_app(settings)


def limit_blas_threads() -> None:
    """One BLAS thread in a server process. Its matrix products are small (the intent and
    domain heads over one query vector, the domain head's exemplars) and run in many request
    threads at once; OpenBLAS's own threads per product spin against them and the embedder on
    two cores (one client's p50 28 -> 22 ms, bench/load.py). Training, in the CLI, keeps them."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
