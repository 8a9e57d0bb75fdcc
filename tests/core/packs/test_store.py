"""Installing packs: atomic, idempotent for identical content, verified again at load."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from core.errors import (
    ChecksumMismatch,
    Conflict,
    FileSetMismatch,
    PackNotFound,
    SignatureInvalid,
    UnknownSigningKey,
    ValidationError,
)
from core.packs.builder import build_pack
from core.packs.signing import TrustStore
from core.packs.store import PackStore
from core.settings import Settings
from tests.core.packs.helpers import (
    FakeIndexBuilder,
    flip_byte,
    rewrite_archive,
    write_pack_source,
)

Keys = tuple[Path, Path, str]


@pytest.fixture
def store(settings: Settings, keys: Keys) -> PackStore:
    settings.trust_dir.mkdir(parents=True)
    shutil.copy(keys[1], settings.trust_dir / "publisher.pub")
    return PackStore(settings)


def build_version(tmp_path: Path, keys: Keys, version: str, **overrides: object) -> Path:
    source = write_pack_source(tmp_path / f"src-{version}", version=version, **overrides)
    out = tmp_path / f"demo-{version}.kpack"
    build_pack(source, private_key_path=keys[0], out_path=out, index_builder=FakeIndexBuilder())
    return out


def test_install_list_get_documents(store: PackStore, kpack: Path, keys: Keys) -> None:
    installed = store.install(kpack)
    assert installed.root == store.packs_dir / "demo-pack" / "1.0.0"
    assert installed.key_id == keys[2]
    assert [d.id for d in installed.documents()] == ["d1", "d2", "d3"]
    assert store.installed() == [installed]
    assert store.get("demo-pack") == installed
    # Only the pack directory itself: no work directories left behind.
    assert [p.name for p in store.packs_dir.iterdir()] == ["demo-pack"]


def test_latest_version_wins(store: PackStore, tmp_path: Path, keys: Keys) -> None:
    for version in ["1.9.0", "1.10.0", "1.10.0-rc1"]:
        store.install(build_version(tmp_path, keys, version))
    assert store.versions("demo-pack") == ["1.9.0", "1.10.0-rc1", "1.10.0"]
    assert store.get("demo-pack").manifest.version == "1.10.0"


def test_release_replaces_its_prerelease(store: PackStore, tmp_path: Path, keys: Keys) -> None:
    store.install(build_version(tmp_path, keys, "2.0.0-rc.1"))
    assert store.get("demo-pack").manifest.version == "2.0.0-rc.1"
    store.install(build_version(tmp_path, keys, "2.0.0"))
    store.install(build_version(tmp_path, keys, "2.0.0-beta.3"))
    assert store.versions("demo-pack") == ["2.0.0-beta.3", "2.0.0-rc.1", "2.0.0"]
    assert store.get("demo-pack").manifest.version == "2.0.0"


def test_directory_that_is_not_a_version_is_skipped_with_a_warning(
    store: PackStore, kpack: Path, caplog: pytest.LogCaptureFixture
) -> None:
    installed = store.install(kpack)
    (store.packs_dir / "demo-pack" / "latest").mkdir()  # e.g. left by hand; never a pack
    (store.packs_dir / "stray" / "backup").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="packdesk.versions"):
        assert store.versions("demo-pack") == ["1.0.0"]
        assert store.get("demo-pack") == installed
        assert store.installed() == [installed]
    assert "'latest'" in caplog.text and "'backup'" in caplog.text
    with pytest.raises(PackNotFound, match="latest"):
        store.remove("demo-pack", "latest")


def test_unorderable_version_is_not_installed(store: PackStore, tmp_path: Path, keys: Keys) -> None:
    # Valid semver, but packaging cannot order it: the store could never list it.
    with pytest.raises(ValidationError, match="1.0.0-x.7"):
        store.install(build_version(tmp_path, keys, "1.0.0-x.7"))
    assert list(store.packs_dir.iterdir()) == []


def test_reinstall_identical_is_a_noop(store: PackStore, kpack: Path) -> None:
    first = store.install(kpack)
    marker = first.root.stat().st_ino
    again = store.install(kpack)
    assert again == first and again.root.stat().st_ino == marker


def test_reinstall_different_content_same_version_conflicts(
    store: PackStore, tmp_path: Path, keys: Keys
) -> None:
    first = store.install(build_version(tmp_path, keys, "2.0.0"))
    other = build_version(tmp_path / "b", keys, "2.0.0", name="Renamed")
    with pytest.raises(Conflict, match="demo-pack.*2.0.0"):
        store.install(other)
    assert store.get("demo-pack").manifest.name == first.manifest.name
    assert sorted(p.name for p in store.packs_dir.iterdir()) == ["demo-pack"]


def test_failed_install_leaves_nothing(store: PackStore, kpack: Path, tmp_path: Path) -> None:
    # Extraction succeeds, verification of the extracted files fails: the work directory
    # (inside packs_dir) must be gone and no pack directory may exist.
    def flip(files: dict[str, bytes]) -> None:
        files["documents.jsonl"] = flip_byte(files["documents.jsonl"])

    tampered = rewrite_archive(kpack, tmp_path / "t.kpack", flip)
    with pytest.raises(ChecksumMismatch):
        store.install(tampered)
    assert list(store.packs_dir.iterdir()) == []


def test_untrusted_publisher_is_not_installed(settings: Settings, kpack: Path) -> None:
    with pytest.raises(UnknownSigningKey):
        PackStore(settings).install(kpack)  # empty trust_dir
    assert list(settings.packs_dir.iterdir()) == []


def test_pack_altered_after_install_fails_at_load(
    store: PackStore, tmp_path: Path, keys: Keys
) -> None:
    installed = store.install(build_version(tmp_path, keys, "1.0.0"))
    vectors = installed.index_dir / "vectors.bin"
    vectors.write_bytes(vectors.read_bytes()[:-10])  # a truncated index file
    with pytest.raises(ChecksumMismatch, match="index/vectors.bin"):
        store.get("demo-pack")
    with pytest.raises(ChecksumMismatch):
        store.installed()
    vectors.unlink()
    with pytest.raises(FileSetMismatch, match="index/vectors.bin"):
        store.get("demo-pack")


def test_remove(store: PackStore, kpack: Path) -> None:
    store.install(kpack)
    store.remove("demo-pack", "1.0.0")
    assert store.installed() == []
    assert list(store.packs_dir.iterdir()) == []
    with pytest.raises(PackNotFound, match="demo-pack"):
        store.get("demo-pack")
    with pytest.raises(PackNotFound, match="1.0.0"):
        store.remove("demo-pack", "1.0.0")


def test_trust_override(settings: Settings, kpack: Path, trust: TrustStore) -> None:
    assert PackStore(settings, trust=trust).install(kpack).manifest.id == "demo-pack"


def test_pack_ids_and_one_version(store: PackStore, tmp_path: Path, keys: Keys) -> None:
    assert store.pack_ids() == []
    store.install(build_version(tmp_path, keys, "1.0.0"))
    store.install(build_version(tmp_path, keys, "1.1.0"))
    assert store.pack_ids() == ["demo-pack"]
    assert store.load_version("demo-pack", "1.0.0").manifest.version == "1.0.0"
    with pytest.raises(PackNotFound, match="2.0.0"):
        store.load_version("demo-pack", "2.0.0")


def test_sweep_work_dirs_removes_only_old_ones(store: PackStore, kpack: Path) -> None:
    import os
    import time

    store.install(kpack)
    old, fresh = store.packs_dir / ".tmp-crashed", store.packs_dir / ".tmp-running"
    for work in (old, fresh):
        (work / "pack" / "index").mkdir(parents=True)
        (work / "pack" / "index" / "vectors.bin").write_bytes(b"x")
    long_ago = time.time() - 3600
    for path in (old, old / "pack", old / "pack" / "index", old / "pack" / "index" / "vectors.bin"):
        os.utime(path, (long_ago, long_ago))
    # A work dir whose top is old but whose files are being written is still running.
    os.utime(fresh, (long_ago, long_ago))

    assert store.sweep_work_dirs(older_than_s=600) == [old]
    assert not old.exists() and fresh.exists()
    assert [p.manifest.id for p in store.installed()] == ["demo-pack"]


def test_installed_from_names_the_pack_an_archive_installed(
    store: PackStore, kpack: Path, keys: Keys
) -> None:
    assert store.installed_from(kpack) is None
    installed = store.install(kpack)
    assert store.installed_from(kpack) == installed


def test_installed_from_is_none_for_another_build_of_the_same_version(
    store: PackStore, tmp_path: Path, keys: Keys
) -> None:
    store.install(build_version(tmp_path / "a", keys, "1.0.0"))
    other = build_version(tmp_path / "b", keys, "1.0.0", description="rebuilt from a new source")
    assert store.installed_from(other) is None
    with pytest.raises(Conflict):
        store.install(other)


def test_installed_from_is_none_when_the_installed_manifest_was_altered(
    store: PackStore, kpack: Path
) -> None:
    installed = store.install(kpack)
    manifest = installed.root / "manifest.json"
    manifest.write_bytes(flip_byte(manifest.read_bytes()))
    assert store.installed_from(kpack) is None


def test_installed_from_checks_the_archives_signature(
    store: PackStore, kpack: Path, tmp_path: Path
) -> None:
    store.install(kpack)

    def alter_manifest(files: dict[str, bytes]) -> None:
        files["manifest.json"] = flip_byte(files["manifest.json"])

    forged = rewrite_archive(kpack, tmp_path / "forged.kpack", alter_manifest)
    with pytest.raises(SignatureInvalid):
        store.installed_from(forged)
