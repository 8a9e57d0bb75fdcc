"""A real PackDesk server and a real Chromium for the browser tests.

The server is the app under uvicorn in a background thread (one per test module), over a data
directory with the small packs installed; business web sites are plain pages served from other
origins (other ports of 127.0.0.1; PackDesk itself is reached as ``localhost``).
Chromium is Debian's ``chromium`` package, driven by Playwright's Python API at
``/usr/bin/chromium``: no browser is downloaded. Without it the tests are skipped with that
reason.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core.settings import Settings

CHROMIUM = os.environ.get("PACKDESK_TEST_CHROMIUM", "/usr/bin/chromium")
# Set to docs/screenshots to refresh the README's pictures; otherwise they go to a temp dir.
SCREENSHOTS_ENV = "PACKDESK_SCREENSHOTS"
T = TypeVar("T")


def chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's chromium package "
            "(apt-get install chromium) to run the browser tests"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """The app served over real TCP; ``call`` runs a coroutine on the server's event loop."""

    base_url: str
    app: Any
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def create_account(self, scope: str, name: str) -> str:
        services = self.app.state.services
        _, api_key = self.call(services.accounts.create_account(name, scope))
        return str(api_key)


def serve_app(settings: Settings, start_options: dict[str, Any]) -> Iterator[LiveServer]:
    import uvicorn

    from api.app import create_app

    app = create_app(settings, start_options=start_options)
    port = int(settings.public_base_url.rsplit(":", 1)[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the PackDesk server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(base_url=settings.public_base_url, app=app, loop=loop)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class Site:
    """A business's web site: static pages on their own origin."""

    origin: str
    root: Path

    def page(self, name: str, html: str) -> str:
        (self.root / name).write_text(html)
        return f"{self.origin}/{name}"


def serve_site(root: Path) -> Iterator[Site]:
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(origin=f"http://127.0.0.1:{httpd.server_address[1]}", root=root)
    finally:
        httpd.shutdown()
        httpd.server_close()


def embed_page(server: LiveServer, widget_key: str) -> str:
    """A plain HTML page with the one script tag of the widget."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme Bank</title></head>
<body><h1>Acme Bank</h1><p>Questions? Ask our assistant.</p>
<script src="{server.base_url}/widget.js" data-key="{widget_key}"></script></body></html>"""


class Screenshots:
    def __init__(self, fallback: Path) -> None:
        target = os.environ.get(SCREENSHOTS_ENV)
        self.dir = Path(target) if target else fallback
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, page: Any, name: str) -> Path:
        path = self.dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True)
