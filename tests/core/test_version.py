"""The version is written once, in pyproject.toml; the code reads the installed metadata."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import core
from core.plugin_manager import describe_plugins, get_plugin_manager

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_core_version_is_the_installed_distributions() -> None:
    assert core.__version__ == importlib.metadata.version("packdesk")


def test_installed_version_is_the_one_in_pyproject() -> None:
    written = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert core.__version__ == written, "reinstall (pip install -e .) after changing the version"


def test_a_source_tree_that_was_never_installed_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert core._installed_version() == "0+unknown"


class _OwnPlugin:
    """Registered directly, so it has no distribution of its own: it is PackDesk's."""


def test_plugins_without_a_distribution_report_core_version() -> None:
    manager = get_plugin_manager(load_entry_points=False, extra_plugins=[_OwnPlugin()])
    (row,) = describe_plugins(manager)
    assert row["version"] == core.__version__
