"""Atomic, durable writes of small files (trust files, keys' public halves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.packs.bootstrap import ensure_installation_key
from core.packs.files import write_atomic
from core.settings import Settings


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def record(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def test_write_atomic_replaces_whole_and_syncs_file_and_directory(
    tmp_path: Path, synced: list[int]
) -> None:
    target = tmp_path / "trust" / "publisher-abc.pub"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left
    assert len(synced) == 4  # file and directory, twice
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "k.pub"
    write_atomic(target, b"old")

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["k.pub"]


def test_the_installation_key_is_trusted_with_an_atomic_write(
    settings: Settings, synced: list[int]
) -> None:
    _, key_id = ensure_installation_key(settings)
    trusted = settings.trust_dir / f"installation-{key_id}.pub"
    assert trusted.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert [p.name for p in settings.trust_dir.iterdir()] == [trusted.name]
    assert synced  # written through write_atomic
