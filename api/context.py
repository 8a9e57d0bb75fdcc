"""What every CLI command shares: settings read once from the environment, the plugin manager."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pluggy

from core.plugin_manager import get_plugin_manager
from core.settings import Settings


@dataclass
class CliContext:
    settings_override: Settings | None = None
    _manager: pluggy.PluginManager | None = field(default=None, repr=False)

    @cached_property
    def settings(self) -> Settings:
        # The composition root is the only place that reads the environment.
        return self.settings_override or Settings()

    def plugin_manager(self) -> pluggy.PluginManager:
        if self._manager is None:
            self._manager = get_plugin_manager()
        return self._manager
