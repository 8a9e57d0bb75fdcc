from __future__ import annotations

import pytest

from core import PluginError, hookimpl
from core.plugin_manager import describe_plugins, get_plugin_manager


class _Misspelt:
    @hookimpl
    def packdesk_pack_source(self, settings):  # missing the trailing "s"
        return []


def test_misspelt_hook_fails_loudly() -> None:
    with pytest.raises(PluginError, match="packdesk_pack_source"):
        get_plugin_manager(load_entry_points=False, extra_plugins=[_Misspelt()])


def test_builtin_plugins_are_loaded_through_entry_points() -> None:
    names = {row["name"] for row in describe_plugins(get_plugin_manager())}
    assert {"builtin_packs", "faiss_index", "sentence_transformers_embedder"} <= names
