"""Pack discovery through the plugin system: a third-party plugin's pack source is found, built
and installed exactly like the built-in packs, whether registered directly or by entry point."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from core import PackSource, Settings, hookimpl
from core.errors import PackFormatError, PluginError
from core.packs.discovery import DiscoveredPack, discover_pack_paths, discover_pack_sources
from core.plugin_manager import describe_plugins, get_plugin_manager

BUILTIN_IDS = ["support-basics", "finance", "medical", "legal"]


def write_pack_source(root: Path, pack_id: str = "cooking") -> Path:
    """A minimal authored pack, the way a third-party publisher writes one."""
    root.mkdir(parents=True)
    manifest = {
        "id": pack_id,
        "name": "Cooking",
        "version": "0.3.0",
        "domain": "cooking",
        "publisher": "Third Party Ltd",
        "license": "CC0-1.0",
        "attribution": "Written by Third Party Ltd.",
        "pricing": {"model": "one_time", "amount": 500, "currency": "usd"},
        "embedding_model": {"id": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384},
        "intents": [{"name": "boil_egg", "examples": ["how long to boil an egg", "soft egg time"]}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    document = {"id": "egg", "title": "Boiling eggs", "text": "Six minutes for a soft egg."}
    (root / "documents.jsonl").write_text(json.dumps(document) + "\n", encoding="utf-8")
    return root


class DirectorySource:
    def __init__(self, name: str, paths: list[Path]) -> None:
        self.name = name
        self._paths = paths

    def pack_paths(self) -> list[Path]:
        return list(self._paths)


class ThirdPartyPlugin:
    """A plugin object as a third party writes it: one hook returning one pack source."""

    def __init__(self, paths: list[Path], name: str = "cooking-packs") -> None:
        self.source = DirectorySource(name, paths)

    @hookimpl
    def packdesk_pack_sources(self, settings: Settings) -> list[PackSource]:
        return [self.source]


def test_builtin_packs_are_discovered_through_their_entry_point(settings: Settings) -> None:
    found = discover_pack_paths(get_plugin_manager(), settings)
    assert [pack.pack_id for pack in found] == BUILTIN_IDS
    assert {pack.source for pack in found} == {"builtin"}
    assert all(pack.path == settings.data_dir / "sources" / pack.pack_id for pack in found)


def test_registered_third_party_pack_is_discovered_like_a_builtin(
    settings: Settings, tmp_path: Path
) -> None:
    source_dir = write_pack_source(tmp_path / "third" / "cooking")
    manager = get_plugin_manager(extra_plugins=[ThirdPartyPlugin([source_dir])])
    found = discover_pack_paths(manager, settings)
    assert [pack.pack_id for pack in found] == ["cooking", *BUILTIN_IDS]
    assert found[0] == DiscoveredPack("cooking-packs", source_dir, "cooking", "0.3.0")
    assert all(isinstance(pack, DiscoveredPack) for pack in found)


def test_discovered_third_party_pack_is_built_signed_and_installed(
    settings: Settings, tmp_path: Path
) -> None:
    from core.packs.bootstrap import prepare_packs
    from core.packs.store import PackStore

    source_dir = write_pack_source(tmp_path / "third" / "cooking")
    manager = get_plugin_manager(extra_plugins=[ThirdPartyPlugin([source_dir])])
    found = discover_pack_paths(manager, settings)
    # The same call `packdesk prepare` makes; support-basics stands in for the built-ins.
    chosen = [pack.path for pack in found if pack.pack_id in ("cooking", "support-basics")]
    prepared = prepare_packs(settings, chosen, index_builder=None)
    assert [(p.pack_id, p.built) for p in prepared] == [("cooking", True), ("support-basics", True)]
    installed = {pack.manifest.id: pack.manifest for pack in PackStore(settings).installed()}
    assert installed["cooking"].pricing.amount == 500
    assert installed["support-basics"].pricing.is_free


def test_a_later_prepare_does_not_install_its_packs_again(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.packs.bootstrap import prepare_packs
    from core.packs.store import PackStore

    source_dir = write_pack_source(tmp_path / "third" / "cooking")
    first = prepare_packs(settings, [source_dir], index_builder=None)

    def no_extraction(self: PackStore, archive: Path) -> None:
        raise AssertionError(f"{archive.name} was extracted again")

    monkeypatch.setattr(PackStore, "install", no_extraction)
    again = prepare_packs(settings, [source_dir], index_builder=None)
    assert [(p.pack_id, p.version, p.archive, p.built) for p in again] == [
        ("cooking", "0.3.0", first[0].archive, False)
    ]
    assert [pack.manifest.id for pack in PackStore(settings).installed()] == ["cooking"]


@pytest.fixture
def entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real installed distribution: a module plus a dist-info with a ``packdesk`` entry point."""
    site = tmp_path / "site"
    site.mkdir()
    pack_dir = write_pack_source(tmp_path / "ep_packs" / "gardening", pack_id="gardening")
    (site / "packdesk_gardening.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from core import hookimpl

            class GardeningSource:
                name = "gardening-source"

                def pack_paths(self):
                    return [Path({str(pack_dir)!r})]

            @hookimpl
            def packdesk_pack_sources(settings):
                return [GardeningSource()]
            """
        ),
        encoding="utf-8",
    )
    dist = site / "packdesk_gardening-2.4.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: packdesk-gardening\nVersion: 2.4.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[packdesk]\ngardening = packdesk_gardening\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield pack_dir
    sys.modules.pop("packdesk_gardening", None)


def test_entry_point_plugin_is_loaded_and_its_pack_discovered(
    settings: Settings, entry_point_plugin: Path
) -> None:
    manager = get_plugin_manager()
    rows = {row["name"]: row for row in describe_plugins(manager)}
    assert rows["gardening"]["version"] == "2.4.1"
    assert rows["gardening"]["hooks"] == ["packdesk_pack_sources"]
    found = {pack.pack_id: pack for pack in discover_pack_paths(manager, settings)}
    assert found["gardening"] == DiscoveredPack(
        "gardening-source", entry_point_plugin, "gardening", "0.3.0"
    )
    assert set(BUILTIN_IDS) <= set(found)


def test_same_pack_id_from_two_sources_is_an_error(settings: Settings, tmp_path: Path) -> None:
    impostor = write_pack_source(tmp_path / "impostor" / "finance", pack_id="finance")
    manager = get_plugin_manager(extra_plugins=[ThirdPartyPlugin([impostor], name="impostor")])
    with pytest.raises(PluginError, match="'finance' is offered twice") as caught:
        discover_pack_paths(manager, settings)
    assert "'impostor'" in caught.value.message and "'builtin'" in caught.value.message


def test_source_without_pack_source_shape_is_an_error(settings: Settings) -> None:
    class Broken:
        @hookimpl
        def packdesk_pack_sources(self, settings: Settings) -> list[object]:
            return [object()]

    manager = get_plugin_manager(load_entry_points=False, extra_plugins=[Broken()])
    with pytest.raises(PluginError, match="pack_paths"):
        discover_pack_sources(manager, settings)


def test_missing_pack_path_is_an_error(settings: Settings, tmp_path: Path) -> None:
    manager = get_plugin_manager(
        load_entry_points=False, extra_plugins=[ThirdPartyPlugin([tmp_path / "nowhere"])]
    )
    with pytest.raises(PackFormatError, match="nowhere"):
        discover_pack_paths(manager, settings)


def test_kpack_archive_is_discovered_by_its_manifest(settings: Settings, tmp_path: Path) -> None:
    from core.packs.archive import write_archive

    source_dir = write_pack_source(tmp_path / "src" / "cooking")
    archive = tmp_path / "cooking.kpack"
    write_archive(
        archive,
        {name: source_dir / name for name in ("manifest.json", "documents.jsonl")},
    )
    manager = get_plugin_manager(
        load_entry_points=False, extra_plugins=[ThirdPartyPlugin([archive])]
    )
    [pack] = discover_pack_paths(manager, settings)
    assert (pack.pack_id, pack.path) == ("cooking", archive)
