"""Where packs come from: the :class:`PackSource` role."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class PackSource(Protocol):
    """A named provider of pack source directories or built ``.kpack`` archives.

    Built-in packs and third-party plugins contribute sources through the
    ``packdesk_pack_sources`` hook; the engine treats every source the same way.
    """

    name: str

    def pack_paths(self) -> list[Path]:
        """Paths of pack source directories (authored packs) or ``.kpack`` files."""
        ...
