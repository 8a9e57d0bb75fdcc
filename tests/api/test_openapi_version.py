"""The OpenAPI document carries the package version (written once, in pyproject.toml)."""

from __future__ import annotations

import core
from api.app import create_app
from core.settings import Settings


def test_openapi_version_is_core_version(settings: Settings) -> None:
    assert create_app(settings).openapi_schema.info.version == core.__version__
