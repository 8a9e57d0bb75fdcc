"""The ``packdesk_startup`` hook runs once when the app starts, after packs are loaded."""

from __future__ import annotations

from litestar.testing import TestClient

from api.app import create_app
from core import hookimpl
from core.plugin_manager import get_plugin_manager
from tests.api.conftest import install_built_packs


class StartupProbe:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    @hookimpl
    def packdesk_startup(self, settings, services) -> None:  # type: ignore[no-untyped-def]
        self.calls.append({"data_dir": settings.data_dir, "packs": sorted(services["packs"])})


def test_startup_hook_sees_loaded_packs(api_settings, built_packs, shared_embedder) -> None:
    probe = StartupProbe()
    install_built_packs(api_settings, built_packs, ["support-basics"])
    manager = get_plugin_manager(extra_plugins=[probe])
    app = create_app(
        api_settings,
        start_options={"embedder": shared_embedder, "manager": manager, "load_classifier": False},
    )
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
    assert probe.calls == [{"data_dir": api_settings.data_dir, "packs": ["support-basics"]}]
