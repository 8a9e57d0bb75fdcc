"""The built-in packs as a plugin: registered through the ``packdesk`` entry-point group.

A third-party pack plugin looks exactly like this module: one ``packdesk_pack_sources`` hook
returning a :class:`core.PackSource`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from core import Settings, hookimpl
from knowledge_packs.prepare import BUILTIN_PACKS, prepare_pack_result

SOURCE_NAME = "builtin"


class BuiltinPackSource:
    """Prepares the four built-in packs into ``root/<pack_id>`` and offers those directories.

    Preparation is skipped for a pack whose directory is already up to date.
    """

    name = SOURCE_NAME

    def __init__(self, root: Path, *, console: Console | None = None) -> None:
        self.root = Path(root)
        self._console = console

    def pack_paths(self) -> list[Path]:
        paths = []
        for pack_id in BUILTIN_PACKS:
            result = prepare_pack_result(pack_id, self.root / pack_id)
            if self._console is not None:
                state = "up to date" if result.skipped else "prepared"
                self._console.print(
                    f"  source {pack_id}: {state} ({result.documents} documents, "
                    f"{result.intents} intents)"
                )
            paths.append(result.path)
        return paths


@hookimpl
def packdesk_pack_sources(settings: Settings) -> list[BuiltinPackSource]:
    """Offer the built-in packs, prepared under ``<data_dir>/sources``."""
    # stderr, so commands that print JSON on stdout stay machine-readable.
    return [BuiltinPackSource(settings.data_dir / "sources", console=Console(stderr=True))]
