"""The ``.kpack`` archive: a gzip-compressed POSIX tar, read as hostile input.

Reading never trusts a header: every entry name, type and size is checked before any byte is
kept, decompressed bytes are counted as they are actually produced (a bomb is stopped at the
limit, whatever its headers claim), and text files are checked for UTF-8 and JSON before they
are accepted. Each rejection has its own error class and names the offending entry. Nothing in
an archive is ever imported or executed: entries are bytes, written as regular files at most.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
from core.settings import ArchiveLimits

TEXT_SUFFIXES = (".json", ".jsonl", ".txt", ".md")
_CHUNK = 1024 * 1024
# Tar framing around member data: a 512-byte header, padding to 512, and room for PAX or GNU
# long-name headers. Used only as a backstop budget for the raw decompressed stream.
_PER_ENTRY_OVERHEAD = 8 * 1024
_ARCHIVE_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class ArchiveEntry:
    """One regular file of an archive: its POSIX path, actual size and SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ArchiveContents:
    """What a scan found: every file's entry, and the bytes of the files asked to be kept."""

    entries: dict[str, ArchiveEntry]
    kept: dict[str, bytes]


def read_archive(path: Path, limits: ArchiveLimits) -> dict[str, bytes]:
    """Read every file of an archive into memory, applying all checks.

    Raises:
        UnsafeArchive, ArchiveCorrupt, TextNotUtf8, MalformedJson: see the module docstring.
    """
    return scan_archive(path, limits, keep=lambda _name: True).kept


def scan_archive(
    path: Path, limits: ArchiveLimits, *, keep: Callable[[str], bool] = lambda _name: False
) -> ArchiveContents:
    """Check and hash every entry without writing anything; keep the bytes of ``keep`` files."""
    return _Scanner(Path(path), limits, dest=None, keep=keep).run()


def extract_archive(path: Path, dest_dir: Path, limits: ArchiveLimits) -> dict[str, ArchiveEntry]:
    """Extract an archive into ``dest_dir``, which must not exist yet; it is created.

    On any rejection ``dest_dir`` is removed again, so nothing is left on disk.

    Returns:
        The file entries (path, size, SHA-256) that were written.
    Raises:
        FileExistsError: ``dest_dir`` already exists (the caller picks a fresh directory).
        UnsafeArchive, ArchiveCorrupt, TextNotUtf8, MalformedJson: see the module docstring.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(mode=0o755)
    try:
        return _Scanner(Path(path), limits, dest=dest_dir, keep=lambda _name: False).run().entries
    except BaseException:
        shutil.rmtree(dest_dir, ignore_errors=True)
        raise


def validate_text(name: str, data: bytes) -> None:
    """Check a text entry: UTF-8 for every text suffix, JSON for ``.json``, JSON per line for
    ``.jsonl`` (blank lines allowed).

    Raises:
        TextNotUtf8: with the line and byte offset of the first bad byte.
        MalformedJson: with the line (and column) of the first bad JSON.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextNotUtf8(
            f"{name}: not UTF-8 text ({exc.reason} at line {line}, byte offset {exc.start})"
        ) from exc
    if name.endswith(".json"):
        _parse_json(name, text, line_offset=0)
    elif name.endswith(".jsonl"):
        for number, line_text in enumerate(text.split("\n"), start=1):
            if line_text.strip():
                _parse_json(name, line_text, line_offset=number - 1)


def _parse_json(name: str, text: str, *, line_offset: int) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"{name}: malformed JSON at line {exc.lineno + line_offset} column {exc.colno}: "
            f"{exc.msg}"
        ) from exc
    except RecursionError as exc:  # absurdly nested input
        raise MalformedJson(f"{name}: JSON nested too deeply near line {line_offset + 1}") from exc


def write_archive(out_path: Path, files: Mapping[str, Path | bytes]) -> None:
    """Write ``files`` (archive path -> source file or bytes) as a deterministic ``.kpack``.

    Entries are sorted, owned by 0:0 with mode 0644 and mtime 0, so the same inputs give the
    same bytes. The archive appears at ``out_path`` atomically (temp file + ``os.replace``).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for name in sorted(files):
                        _add_file(tar, name, files[name])
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, out_path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _add_file(tar: tarfile.TarFile, name: str, source: Path | bytes) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, 0, "", ""
    if isinstance(source, bytes):
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
    else:
        info.size = source.stat().st_size
        with source.open("rb") as stream:
            tar.addfile(info, stream)


class _LimitedReader:
    """A read-only stream that raises once more than ``budget`` bytes have been read."""

    def __init__(self, inner: BinaryIO, budget: int, on_exceeded: Callable[[], Exception]):
        self._inner = inner
        self._budget = budget
        self._on_exceeded = on_exceeded
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.consumed += len(data)
        if self.consumed > self._budget:
            raise self._on_exceeded()
        return data


class _Scanner:
    """One pass over an archive: checks, hashes, and optionally writes or keeps entries."""

    def __init__(
        self, path: Path, limits: ArchiveLimits, *, dest: Path | None, keep: Callable[[str], bool]
    ) -> None:
        self.path = path
        self.limits = limits
        self.dest = dest
        self.keep = keep
        self.entries: dict[str, ArchiveEntry] = {}
        self.kept: dict[str, bytes] = {}
        self.directories: set[str] = set()
        self.unpacked = 0

    def run(self) -> ArchiveContents:
        try:
            packed_size = self.path.stat().st_size
        except OSError as exc:
            raise ArchiveCorrupt(f"cannot read archive {self.path}: {exc.strerror}") from exc
        if packed_size > self.limits.max_packed_bytes:
            raise ArchivePackedTooLarge(
                f"{self.path.name}: archive is {packed_size} bytes, over the limit of "
                f"{self.limits.max_packed_bytes} bytes"
            )
        stream_budget = (
            self.limits.max_unpacked_bytes
            + self.limits.max_files * _PER_ENTRY_OVERHEAD
            + _ARCHIVE_OVERHEAD
        )
        with self.path.open("rb") as raw_file:
            # The file may grow while we read it; the packed limit holds for what we consume.
            raw = _LimitedReader(
                raw_file,
                self.limits.max_packed_bytes,
                lambda: ArchivePackedTooLarge(
                    f"{self.path.name}: archive grew over the packed limit of "
                    f"{self.limits.max_packed_bytes} bytes while being read"
                ),
            )
            gz = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]
            # Counts the actual decompressed bytes, headers included: a backstop against
            # bombs hidden in tar framing (e.g. a PAX header claiming gigabytes).
            stream = _LimitedReader(
                gz,  # type: ignore[arg-type]
                stream_budget,
                lambda: ArchiveUnpackedTooLarge(
                    f"{self.path.name}: decompressed stream exceeds {stream_budget} bytes"
                ),
            )
            try:
                with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                    for member in tar:
                        self._entry(tar, member)
                # Read to the gzip trailer so its CRC-32 and length are checked: a changed byte
                # anywhere in the compressed stream (tar padding included) fails the read.
                while stream.read(_CHUNK):
                    pass
            except PackDeskError:
                raise
            except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
                raise ArchiveCorrupt(
                    f"{self.path.name}: not a readable gzip-compressed tar ({exc})"
                ) from exc
        return ArchiveContents(entries=self.entries, kept=self.kept)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        count = len(self.entries) + len(self.directories) + 1
        if count > self.limits.max_files:
            raise ArchiveTooManyFiles(
                f"{member.name!r}: archive has more than {self.limits.max_files} entries"
            )
        name = _safe_name(member.name)
        if member.issym():
            raise ArchiveSymlink(f"{member.name!r} is a symbolic link (to {member.linkname!r})")
        if member.islnk():
            raise ArchiveHardLink(f"{member.name!r} is a hard link (to {member.linkname!r})")
        if member.isdir():
            if name:
                self._claim(name, member.name, is_dir=True)
            return
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            kind = {
                tarfile.CHRTYPE: "character device",
                tarfile.BLKTYPE: "block device",
                tarfile.FIFOTYPE: "fifo",
                tarfile.CONTTYPE: "contiguous file",
                tarfile.GNUTYPE_SPARSE: "sparse file",
            }.get(member.type, f"entry of type {member.type!r}")
            raise ArchiveSpecialFile(f"{member.name!r} is a {kind}; only regular files allowed")
        if not name:
            raise ArchivePathTraversal(f"{member.name!r}: a file entry needs a file name")
        self._claim(name, member.name, is_dir=False)
        remaining = self.limits.max_unpacked_bytes - self.unpacked
        if member.size > remaining:
            raise self._too_large(member.name, member.size)
        self._read_member(tar, member, name)

    def _claim(self, name: str, raw_name: str, *, is_dir: bool) -> None:
        """Register a path, rejecting repeats and a file that would also be a directory."""
        if name in self.entries or (not is_dir and name in self.directories):
            raise ArchiveDuplicateEntry(f"{raw_name!r} appears more than once in the archive")
        if is_dir:
            if name in self.directories:
                return  # a repeated directory entry carries no content; harmless
            self.directories.add(name)
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in self.entries:
                raise ArchiveDuplicateEntry(
                    f"{raw_name!r} lies under {parent!r}, which is already a file"
                )
            self.directories.add(parent)
        if not is_dir and self.dest is not None:
            (self.dest / name).parent.mkdir(parents=True, exist_ok=True)

    def _read_member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        source = tar.extractfile(member)
        if source is None:  # cannot happen for a regular file; be explicit anyway
            raise ArchiveSpecialFile(f"{member.name!r} has no readable content")
        is_text = name.endswith(TEXT_SUFFIXES)
        keep = self.keep(name)
        buffer = bytearray() if (is_text or keep) else None
        digest = hashlib.sha256()
        size = 0
        out = None
        if self.dest is not None and not is_text:
            out = open(self.dest / name, "xb")  # noqa: SIM115 - closed in finally
        try:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                self.unpacked += len(chunk)
                if self.unpacked > self.limits.max_unpacked_bytes:
                    raise self._too_large(member.name, size)
                digest.update(chunk)
                if buffer is not None:
                    buffer.extend(chunk)
                if out is not None:
                    out.write(chunk)
        finally:
            if out is not None:
                out.close()
        data = bytes(buffer) if buffer is not None else b""
        if is_text:
            validate_text(name, data)
            if self.dest is not None:
                with open(self.dest / name, "xb") as text_out:
                    text_out.write(data)
        if keep:
            self.kept[name] = data
        self.entries[name] = ArchiveEntry(path=name, size=size, sha256=digest.hexdigest())

    def _too_large(self, raw_name: str, size: int) -> ArchiveUnpackedTooLarge:
        return ArchiveUnpackedTooLarge(
            f"{raw_name!r}: unpacking it ({size} bytes) takes the archive over the unpacked "
            f"limit of {self.limits.max_unpacked_bytes} bytes"
        )


def _safe_name(raw: str) -> str:
    """Normalise an entry name to a relative POSIX path, or reject it.

    Returns "" for the archive root (``.`` or ``./``), which only a directory may be.
    """
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in raw):
        raise UnsafeArchive(f"{raw!r}: entry name contains control characters")
    if raw.startswith(("/", "\\")) or (len(raw) >= 2 and raw[1] == ":" and raw[0].isalpha()):
        raise ArchiveAbsolutePath(f"{raw!r} is an absolute path")
    if "\\" in raw:
        # A backslash is a separator on Windows: "..\\x" would escape there.
        raise ArchivePathTraversal(f"{raw!r} contains a backslash")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchivePathTraversal(f"{raw!r} escapes the pack directory ('..')")
    return "/".join(parts)
