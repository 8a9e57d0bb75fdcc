"""Pack discovery: collect every plugin's pack sources and the packs they offer.

Built-in packs and third-party packs arrive the same way, through the
``packdesk_pack_sources`` hook; nothing here knows which plugin is the built-in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pluggy

from core.errors import PackFormatError, PluginError
from core.packs.manifest import MANIFEST_FILE, Manifest, load_manifest, parse_manifest
from core.packs.sources import PackSource
from core.settings import Settings


@dataclass(frozen=True)
class DiscoveredPack:
    """One pack offered by a source: an authored directory or a built ``.kpack`` archive."""

    source: str  # the PackSource's name
    path: Path
    pack_id: str
    version: str


def discover_pack_sources(manager: pluggy.PluginManager, settings: Settings) -> list[PackSource]:
    """Every pack source of every registered plugin, in hook call order.

    Raises:
        PluginError: a plugin returned something that is not a list of pack sources.
    """
    sources: list[PackSource] = []
    for result in manager.hook.packdesk_pack_sources(settings=settings):
        if not isinstance(result, list | tuple):
            raise PluginError(
                f"packdesk_pack_sources must return a list of pack sources, got {result!r}"
            )
        for source in result:
            if not isinstance(source, PackSource):
                raise PluginError(
                    f"packdesk_pack_sources returned {source!r}, which has no 'name' and "
                    "'pack_paths()' (core.packs.sources.PackSource)"
                )
            sources.append(source)
    return sources


def discover_pack_paths(manager: pluggy.PluginManager, settings: Settings) -> list[DiscoveredPack]:
    """The packs every plugin's pack sources offer, each read for its id and version.

    Returns:
        One :class:`DiscoveredPack` per path, sources in hook order, paths in source order.
    Raises:
        PluginError: a source is malformed, or two sources (or one, twice) offer the same pack id.
        PackFormatError: a path is neither a pack directory nor a readable ``.kpack`` file.
    """
    found: list[DiscoveredPack] = []
    owners: dict[str, DiscoveredPack] = {}
    for source in discover_pack_sources(manager, settings):
        for raw_path in source.pack_paths():
            path = Path(raw_path)
            manifest = read_pack_manifest(path, settings)
            pack = DiscoveredPack(source.name, path, manifest.id, manifest.version)
            if manifest.id in owners:
                first = owners[manifest.id]
                raise PluginError(
                    f"pack id {manifest.id!r} is offered twice: by source {first.source!r} "
                    f"({first.path}) and by source {source.name!r} ({path}); pack ids must be "
                    "unique across pack sources"
                )
            owners[manifest.id] = pack
            found.append(pack)
    return found


def read_pack_manifest(path: Path, settings: Settings) -> Manifest:
    """The manifest of a pack directory or ``.kpack`` archive, validated but not verified.

    Raises:
        PackFormatError: ``path`` is missing, has no manifest, or its manifest is invalid.
    """
    if path.is_dir():
        if not (path / MANIFEST_FILE).is_file():
            raise PackFormatError(f"pack directory {path} has no {MANIFEST_FILE}")
        return load_manifest(path / MANIFEST_FILE)
    if path.is_file():
        # Archive reading is hostile-input parsing: reuse the checked reader, keep one file.
        from core.packs.archive import scan_archive

        kept = scan_archive(
            path, settings.archive_limits, keep=lambda name: name == MANIFEST_FILE
        ).kept
        if MANIFEST_FILE not in kept:
            raise PackFormatError(f"pack archive {path} has no {MANIFEST_FILE}")
        return parse_manifest(kept[MANIFEST_FILE], source=f"{path}:{MANIFEST_FILE}")
    raise PackFormatError(f"pack path {path} does not exist")
