"""Web tests: the pages, sessions, CSRF and the widget, through Litestar's test client and in a
real Chromium (Debian's package, driven by Playwright; skipped with the reason without it).

The small packs and models are the API tests' fixtures (tests/api/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from core.settings import Settings
from tests.api.conftest import (  # noqa: F401  (fixtures)
    DOCS_PER_PACK,
    Accounts,
    built_packs,
    install_built_packs,
    pet_pack,
    postgres_url,
    small_classifier,
)

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def web_settings(tmp_path: Any) -> Settings:
    return Settings(
        _env_prefix="PACKDESK_TEST_UNUSED_",
        data_dir=tmp_path / "data",
        max_upload_bytes=2 * 1024 * 1024,
        public_base_url="http://testserver.local",
        billing_provider="local",
    )


@pytest.fixture
def web_client(
    web_settings: Settings,
    built_packs: Any,  # noqa: F811  (the fixtures imported above)
    shared_embedder: Any,
    small_classifier: Any,  # noqa: F811
) -> Iterator[TestClient]:
    from api.app import create_app

    install_built_packs(web_settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        web_settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
def web_accounts(web_client: TestClient) -> Accounts:
    return Accounts(web_client)


def csrf_token(client: TestClient, path: str = "/sign-in") -> str:
    """The CSRF token a page embeds (and its cookie, now in the client's jar)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_META.search(page.text)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, api_key: str) -> Any:
    token = csrf_token(client)
    return client.post(
        "/sign-in",
        data={"api_key": api_key, "_csrf_token": token},
        follow_redirects=False,
    )


@pytest.fixture
def web_client_pg(
    tmp_path: Any,
    postgres_url: str,  # noqa: F811
    built_packs: Any,  # noqa: F811
    shared_embedder: Any,
    small_classifier: Any,  # noqa: F811
) -> Iterator[TestClient]:
    """The web on a fresh PostgreSQL database (skipped without one)."""
    from api.app import create_app

    settings = Settings(
        _env_prefix="PACKDESK_TEST_UNUSED_",
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        public_base_url="http://testserver.local",
        billing_provider="local",
    )
    install_built_packs(settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        yield client
