"""The web's signing secret (CSRF tokens): ``PACKDESK_WEB_SECRET``, else a random one kept at
``<data_dir>/keys/web.secret`` (mode 0600), created once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.settings import Settings

SECRET_FILE = "web.secret"


def web_secret(settings: Settings) -> str:
    if settings.web_secret is not None:
        return settings.web_secret.get_secret_value()
    path = settings.keys_dir / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on the first one's secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32))
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text().strip()
    if len(value) < 32:
        raise RuntimeError(f"{path} holds no usable secret (expected 32+ characters)")
    return value
