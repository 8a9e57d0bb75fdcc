"""Builds the pluggy plugin manager. There is no module-global manager."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from core import hookspecs
from core.errors import PluginError

ENTRY_POINT_GROUP = "packdesk"


def get_plugin_manager(
    *, load_entry_points: bool = True, extra_plugins: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """Create a plugin manager with every hookspec, entry-point plugins and ``extra_plugins``.

    Built-in features (packs, FAISS, embedder, billing) are registered through the same
    ``packdesk`` entry-point group a third party uses, so nothing is special-cased here.

    Raises:
        PluginError: a plugin failed to import, or implements a hook that does not exist.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    if load_entry_points:
        try:
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party plugin must not look like our bug
            raise PluginError(f"could not load a '{ENTRY_POINT_GROUP}' plugin: {exc}") from exc
    for plugin in extra_plugins:
        manager.register(plugin)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin implements an unknown hook: {exc}") from exc
    return manager


def describe_plugins(manager: pluggy.PluginManager) -> list[dict[str, Any]]:
    """One row per registered plugin: name, distribution version and implemented hooks."""
    dists = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    rows = []
    for plugin in manager.get_plugins():
        name = manager.get_name(plugin) or repr(plugin)
        dist = dists.get(id(plugin))
        version = dist.version if dist is not None else _own_version()
        hooks = sorted(caller.name for caller in manager.get_hookcallers(plugin) or [])
        rows.append({"name": name, "version": version, "hooks": hooks})
    return sorted(rows, key=lambda row: row["name"])


def _own_version() -> str:
    from core import __version__  # at call time: core/__init__ imports this module

    return __version__
