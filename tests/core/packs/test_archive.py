"""Hostile archives: one test per rejection reason, each checking nothing is left on disk."""

from __future__ import annotations

import gzip
import random
import tarfile
from pathlib import Path

import pytest

from core.errors import (
    ArchiveAbsolutePath,
    ArchiveCorrupt,
    ArchiveDuplicateEntry,
    ArchiveHardLink,
    ArchivePackedTooLarge,
    ArchivePathTraversal,
    ArchiveSpecialFile,
    ArchiveSymlink,
    ArchiveTooManyFiles,
    ArchiveUnpackedTooLarge,
    MalformedJson,
    PackDeskError,
    TextNotUtf8,
    UnsafeArchive,
)
from core.packs.archive import extract_archive, read_archive, write_archive
from core.packs.signing import TrustStore
from core.packs.store import PackStore
from core.settings import ArchiveLimits, Settings
from tests.core.packs.helpers import entry, make_tar

# Every hostile archive starts with a good file, so a rejection happens after something was
# already written: the tests then prove that it was cleaned up.
GOOD = entry("LICENSE", b"fine\n")


def assert_rejected(
    archive: Path,
    error: type[PackDeskError],
    match: str,
    tmp_path: Path,
    settings: Settings,
    limits: ArchiveLimits | None = None,
) -> None:
    limits = limits or ArchiveLimits()
    dest = tmp_path / "dest"
    with pytest.raises(error, match=match):
        extract_archive(archive, dest, limits)
    assert not dest.exists()
    with pytest.raises(error, match=match):
        read_archive(archive, limits)
    store = PackStore(settings.model_copy(update={"archive_limits": limits}), trust=TrustStore())
    with pytest.raises(error, match=match):
        store.install(archive)
    assert list(settings.packs_dir.iterdir()) == []


def test_path_traversal(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("data/../../evil.txt", b"x")])
    assert_rejected(archive, ArchivePathTraversal, r"data/\.\./\.\./evil\.txt", tmp_path, settings)
    assert not (tmp_path / "evil.txt").exists()


def test_backslash_traversal(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("..\\evil.txt", b"x")])
    assert_rejected(archive, ArchivePathTraversal, "evil", tmp_path, settings)


def test_absolute_path(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("/tmp/evil.txt", b"x")])
    assert_rejected(archive, ArchiveAbsolutePath, "/tmp/evil.txt", tmp_path, settings)


def test_symlink(tmp_path: Path, settings: Settings) -> None:
    link = entry("documents.jsonl", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    archive = make_tar(tmp_path / "a.kpack", [GOOD, link])
    assert_rejected(archive, ArchiveSymlink, "documents.jsonl.*/etc/passwd", tmp_path, settings)


def test_hard_link(tmp_path: Path, settings: Settings) -> None:
    link = entry("copy.txt", type=tarfile.LNKTYPE, linkname="LICENSE")
    archive = make_tar(tmp_path / "a.kpack", [GOOD, link])
    assert_rejected(archive, ArchiveHardLink, "copy.txt", tmp_path, settings)


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "fifo"),
        (tarfile.CONTTYPE, "contiguous file"),
    ],
)
def test_special_files(tmp_path: Path, settings: Settings, kind: bytes, label: str) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("index/dev", type=kind)])
    assert_rejected(archive, ArchiveSpecialFile, f"index/dev.*{label}", tmp_path, settings)


def test_duplicate_entry(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("a.txt", b"1"), entry("./a.txt", b"2")])
    assert_rejected(archive, ArchiveDuplicateEntry, r"\./a\.txt", tmp_path, settings)


def test_file_and_directory_with_one_name(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("index", b"1"), entry("index/x", b"2")])
    assert_rejected(archive, ArchiveDuplicateEntry, "index/x", tmp_path, settings)


def test_too_many_files(tmp_path: Path, settings: Settings) -> None:
    files = [entry(f"f{n}.bin", b"x") for n in range(5)]
    archive = make_tar(tmp_path / "a.kpack", files)
    limits = ArchiveLimits(max_files=4)
    assert_rejected(archive, ArchiveTooManyFiles, "f4.bin.*more than 4", tmp_path, settings, limits)


def test_packed_size_over_limit(tmp_path: Path, settings: Settings) -> None:
    blob = entry("blob.bin", random.Random(0).randbytes(4000))
    archive = make_tar(tmp_path / "a.kpack", [GOOD, blob])
    limits = ArchiveLimits(max_packed_bytes=1000)
    assert_rejected(archive, ArchivePackedTooLarge, "a.kpack.*1000", tmp_path, settings, limits)


def test_unpacked_size_over_limit_gzip_bomb(tmp_path: Path, settings: Settings) -> None:
    # 8 MB of zeros packs into a few KB: the packed limit is no defence, the unpacked one is.
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("zeros.bin", bytes(8 * 1024 * 1024))])
    assert archive.stat().st_size < 64 * 1024
    limits = ArchiveLimits(max_unpacked_bytes=1024 * 1024)
    assert_rejected(archive, ArchiveUnpackedTooLarge, "zeros.bin", tmp_path, settings, limits)


def test_unpacked_total_counts_every_file(tmp_path: Path, settings: Settings) -> None:
    # Each file is under the limit; together they are over it.
    files = [entry(f"part{n}.bin", bytes(400 * 1024)) for n in range(4)]
    archive = make_tar(tmp_path / "a.kpack", files)
    limits = ArchiveLimits(max_unpacked_bytes=1024 * 1024)
    assert_rejected(archive, ArchiveUnpackedTooLarge, "part2.bin", tmp_path, settings, limits)


def test_bomb_hidden_in_tar_headers(tmp_path: Path, settings: Settings) -> None:
    # A PAX header carrying 4 MB: no member's claimed size is large, the decompressed stream is.
    bomb, data = entry("LICENSE", b"fine\n")
    bomb.pax_headers = {"comment": "A" * (4 * 1024 * 1024)}
    archive = make_tar(tmp_path / "a.kpack", [(bomb, data)])
    limits = ArchiveLimits(max_unpacked_bytes=256 * 1024, max_files=10)
    assert_rejected(archive, ArchiveUnpackedTooLarge, "decompressed", tmp_path, settings, limits)


def test_non_utf8_text(tmp_path: Path, settings: Settings) -> None:
    text = b"line one\ncaf\xe9\n"
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("data/notes.txt", text)])
    assert_rejected(archive, TextNotUtf8, "data/notes.txt.*line 2", tmp_path, settings)


def test_malformed_jsonl_line(tmp_path: Path, settings: Settings) -> None:
    lines = b'{"id": "a"}\n{"id": "b"}\n{"id": \n{"id": "d"}\n'
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("documents.jsonl", lines)])
    assert_rejected(archive, MalformedJson, "documents.jsonl.*line 3", tmp_path, settings)


def test_malformed_json_file(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("index/meta.json", b'{\n "a": 1,\n}')])
    assert_rejected(archive, MalformedJson, "index/meta.json.*line 3", tmp_path, settings)


def test_not_a_gzip_tar(tmp_path: Path, settings: Settings) -> None:
    archive = tmp_path / "a.kpack"
    archive.write_bytes(b"PK\x03\x04 this is a zip, not a kpack")
    assert_rejected(archive, ArchiveCorrupt, "a.kpack", tmp_path, settings)


def test_truncated_archive(tmp_path: Path, settings: Settings) -> None:
    blob = entry("blob.bin", random.Random(0).randbytes(100_000))
    archive = make_tar(tmp_path / "a.kpack", [GOOD, blob])
    archive.write_bytes(archive.read_bytes()[:-200])
    assert_rejected(archive, ArchiveCorrupt, "a.kpack", tmp_path, settings)


def test_control_characters_in_name(tmp_path: Path, settings: Settings) -> None:
    archive = make_tar(tmp_path / "a.kpack", [GOOD, entry("bad\x1bname.bin", b"x")])
    assert_rejected(archive, UnsafeArchive, "control characters", tmp_path, settings)


def test_clean_archive_is_read_and_extracted(tmp_path: Path) -> None:
    files = {"LICENSE": b"fine\n", "index/meta.json": b"{}", "documents.jsonl": b'{"a": 1}\n'}
    archive = tmp_path / "ok.kpack"
    write_archive(archive, files)
    assert read_archive(archive, ArchiveLimits()) == files
    entries = extract_archive(archive, tmp_path / "x", ArchiveLimits())
    assert sorted(entries) == sorted(files)
    assert (tmp_path / "x" / "index" / "meta.json").read_bytes() == b"{}"
    # Deterministic: the same inputs give the same archive bytes.
    again = tmp_path / "again.kpack"
    write_archive(again, files)
    assert again.read_bytes() == archive.read_bytes()
    assert gzip.decompress(archive.read_bytes())  # a plain gzip-compressed tar


def test_manifest_and_signature_are_written_first(tmp_path: Path) -> None:
    files = {
        "LICENSE": b"x\n",
        "signature.json": b"{}",
        "documents.jsonl": b"",
        "manifest.json": b"{}",
    }
    archive = tmp_path / "p.kpack"
    write_archive(archive, files)
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["manifest.json", "signature.json", "LICENSE", "documents.jsonl"]


def test_control_files_are_read_without_reading_further(tmp_path: Path) -> None:
    from core.packs.archive import read_control_files

    # Whatever follows the control files (here: a symlink, then garbage) is not read at all.
    archive = make_tar(
        tmp_path / "a.kpack",
        [
            entry("manifest.json", b"{}"),
            entry("signature.json", b"{}"),
            entry("LICENSE", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
        ],
    )
    assert read_control_files(archive, ArchiveLimits()) == {
        "manifest.json": b"{}",
        "signature.json": b"{}",
    }
    with pytest.raises(ArchiveSymlink):
        read_archive(archive, ArchiveLimits())


def test_text_is_checked_as_it_streams_across_chunk_boundaries(tmp_path: Path) -> None:
    # A two-byte character split across the 1 MiB read boundary is fine; a bad byte far into a
    # large file is found with its line and offset.
    good = b"a" * (1024 * 1024 - 1) + "é\n".encode() + b"b\n"
    bad = good + b"c" * 10 + b"\xff\n"
    read_archive(make_tar(tmp_path / "g.kpack", [entry("data/big.txt", good)]), ArchiveLimits())
    archive = make_tar(tmp_path / "b.kpack", [entry("data/big.txt", bad)])
    with pytest.raises(TextNotUtf8, match=rf"line 3, byte offset {len(good) + 10}\)"):
        read_archive(archive, ArchiveLimits())
