"""Shared fixtures: explicit settings with a fresh data directory per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.settings import Settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings built explicitly (never from the environment) with a fresh data directory."""
    return Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data")
