"""ServedPacks: per pack, the newest installed version that is approved and loads; versions
that fail to load are skipped and listed, never fatal (issue 14, defects 4 and 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ChecksumMismatch, PackFormatError
from core.ledger.db import Database
from core.packs.store import InstalledPack
from core.publishing.serving import ServedPacks, SkippedPack
from core.settings import Settings

from .conftest import Signer, make_publishing
from .test_service import incoming, new_admin, new_publisher


class Loader:
    """Stands in for the search service: records what is loaded, fails for chosen versions."""

    def __init__(self, failing: dict[str, Exception] | None = None) -> None:
        self.failing = failing or {}
        self.live: dict[str, str] = {}
        self.unloaded: list[str] = []

    async def load(self, installed: InstalledPack) -> None:
        version = installed.manifest.version
        if version in self.failing:
            raise self.failing[version]
        self.live[installed.manifest.id] = version

    async def unload(self, pack_id: str) -> None:
        self.live.pop(pack_id, None)
        self.unloaded.append(pack_id)


async def published(db: Database, settings: Settings, signer: Signer, tmp_path: Path, **states):  # type: ignore[no-untyped-def]
    """demo-pack versions uploaded and installed; ``states`` maps a version to approved,
    pending (installed all the same, as an interrupted approval left it) or rejected."""
    publishing = make_publishing(db, settings)
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    for version, state in states.items():
        archive = signer.build(tmp_path, version=version.replace("_", "."))
        await publishing.service.accept_upload(publisher, incoming(archive, tmp_path))
        name = version.replace("_", ".")
        if state == "approved":
            await publishing.service.approve("demo-pack", name, admin_account_id=admin)
        else:
            publishing.store.install(
                Path((await publishing.catalog.get_version("demo-pack", name)).archive_path)
            )  # type: ignore[arg-type]
            if state == "rejected":
                await publishing.catalog.reject("demo-pack", name, "no", admin_account_id=admin)
    return publishing


def served(publishing, loader: Loader, **kwargs) -> ServedPacks:  # type: ignore[no-untyped-def]
    return ServedPacks(
        store=publishing.store,
        catalog=publishing.catalog,
        load=loader.load,
        unload=loader.unload,
        **kwargs,
    )


@pytest.mark.parametrize("newer", ["pending", "rejected"])
async def test_serves_the_newest_installed_version_that_is_approved(
    db, settings, signer: Signer, tmp_path: Path, newer: str
) -> None:
    publishing = await published(
        db, settings, signer, tmp_path, **{"1_0_0": "approved", "1_1_0": newer}
    )
    assert publishing.store.versions("demo-pack") == ["1.0.0", "1.1.0"]
    loader = Loader()
    packs = served(publishing, loader)

    await packs.load_all()

    assert loader.live == {"demo-pack": "1.0.0"} == packs.served()
    assert packs.skipped == []


async def test_a_version_that_fails_to_load_is_skipped_and_the_older_one_served(
    db, settings, signer: Signer, tmp_path: Path
) -> None:
    publishing = await published(
        db, settings, signer, tmp_path, **{"1_0_0": "approved", "1_1_0": "approved"}
    )
    loader = Loader({"1.1.0": PackFormatError("index/index.json does not exist")})
    packs = served(publishing, loader)

    await packs.load_all()

    assert loader.live == {"demo-pack": "1.0.0"}
    assert packs.skipped == [
        SkippedPack("demo-pack", "1.1.0", "pack-format-invalid", "index/index.json does not exist")
    ]


async def test_nothing_loads_nothing_served_and_the_error_of_any_kind_is_listed(
    db, settings, signer: Signer, tmp_path: Path
) -> None:
    publishing = await published(db, settings, signer, tmp_path, **{"1_0_0": "approved"})
    loader = Loader({"1.0.0": RuntimeError("faiss: cannot read index")})
    packs = served(publishing, loader)

    await packs.load_all()  # never raises

    assert loader.live == {}
    [skipped] = packs.skipped
    assert (skipped.pack_id, skipped.version, skipped.code) == (
        "demo-pack",
        "1.0.0",
        "pack-load-failed",
    )
    assert "faiss: cannot read index" in skipped.error


async def test_a_file_altered_on_disk_is_skipped(
    db, settings, signer: Signer, tmp_path: Path
) -> None:
    publishing = await published(db, settings, signer, tmp_path, **{"1_0_0": "approved"})
    license_file = settings.packs_dir / "demo-pack" / "1.0.0" / "LICENSE"
    license_file.write_text("changed after install\n")
    loader = Loader()
    packs = served(publishing, loader)

    await packs.load_all()

    assert loader.live == {}
    assert [s.code for s in packs.skipped] == [ChecksumMismatch.code]


async def test_refresh_after_a_removal_serves_the_older_version_then_none(
    db, settings, signer: Signer, tmp_path: Path
) -> None:
    publishing = await published(
        db, settings, signer, tmp_path, **{"1_0_0": "approved", "1_1_0": "approved"}
    )
    loader = Loader()
    packs = served(publishing, loader)
    await packs.load_all()
    assert loader.live == {"demo-pack": "1.1.0"}

    publishing.store.remove("demo-pack", "1.1.0")
    assert await packs.refresh("demo-pack") == "1.0.0"
    assert loader.live == {"demo-pack": "1.0.0"}
    publishing.store.remove("demo-pack", "1.0.0")
    assert await packs.refresh("demo-pack") is None
    assert loader.live == {} and loader.unloaded == ["demo-pack"]


async def test_an_own_pack_unknown_to_the_catalog_is_registered_as_builtin(
    db, settings, signer: Signer, tmp_path: Path
) -> None:
    publishing = make_publishing(db, settings)
    settings.trust_dir.mkdir(parents=True)
    (settings.trust_dir / "installation.pub").write_bytes(signer.public.read_bytes())
    publishing.store.install(signer.build(tmp_path))
    loader = Loader()

    foreign = served(publishing, loader)  # without the installation key: not served
    await foreign.load_all()
    assert loader.live == {}

    own = served(publishing, loader, builtin_key_id=signer.key_id)
    await own.load_all()
    assert loader.live == {"demo-pack": "1.0.0"}
    assert own.builtin_pack_ids() == {"demo-pack"}
    assert (await publishing.catalog.get_version("demo-pack", "1.0.0")).status == "approved"
