"""Every server process polls the current-version pointer and hot-swaps a promoted model.

The check is one indexed row, so polling every few seconds costs nothing; when the pointer
names another version, the process fetches its files from the database (once per node), loads
and warms the model off the event loop, checks its labels against the served packs, and swaps
it into the :class:`~core.intents.hot_swap.SwappableClassifier`. A version that fails to load is
logged and not retried until the pointer changes again; the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from core.intents.hot_swap import ServingClassifier, SwappableClassifier
from core.intents.versions import ModelVersion
from core.learning.registry import ModelRegistry, version_dir

logger = logging.getLogger("packdesk.learning")

LabelCheck = Callable[[ModelVersion], "str | None"]
"""``version -> why it cannot serve here`` (None when it can)."""


class ModelWatcher:
    """Follows the registry's current version for one :class:`SwappableClassifier`."""

    def __init__(
        self,
        registry: ModelRegistry,
        holder: SwappableClassifier,
        *,
        models_dir: Path,
        load: Callable[[Path], ServingClassifier],
        label_problem: LabelCheck,
    ) -> None:
        self.registry = registry
        self.holder = holder
        self.models_dir = Path(models_dir)
        self.load = load
        self.label_problem = label_problem
        self._failed: str | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> bool:
        """Swap in the current version if it is not the one serving. Returns True on a swap."""
        async with self._lock:  # one load at a time, even if a check is asked for meanwhile
            version_id = await self.registry.current_version_id()
            if version_id is None or version_id in (self.holder.version_id, self._failed):
                return False
            try:
                version = await self.registry.get(version_id)
                problem = self.label_problem(version)
                if problem:
                    raise ValueError(f"version {version_id} cannot serve here: {problem}")
                target = await self.registry.materialise(
                    version_id, version_dir(self.models_dir, version_id)
                )
                classifier = await asyncio.to_thread(self.load, target)
            except Exception:
                logger.exception("intent model %s not swapped in; %s keeps serving", version_id,
                                 self.holder.version_id)
                self._failed = version_id
                return False
            old = self.holder.swap(classifier, version_id)
            self._failed = None
            logger.info("intent model %s now serving (was %s)", version_id, old.version_id)
            return True

    async def run(self, interval_s: float) -> None:
        """Check every ``interval_s`` seconds until cancelled; a failed check is logged."""
        while True:
            try:
                await self.check()
            except Exception:  # the database may be briefly unreachable: try again next time
                logger.exception("intent model version check failed")
            await asyncio.sleep(interval_s)
