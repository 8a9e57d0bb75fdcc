"""The ``.kpack`` archive: a gzip-compressed POSIX tar, read as hostile input.

Reading never trusts a header: every entry name, type and size is checked before any byte is
kept, decompressed bytes are counted as they are actually produced (a bomb is stopped at the
limit, whatever its headers claim, and so is a stream that decompresses to far more than its
compressed size), each entry is bounded, and text files are checked for UTF-8 and JSON as they
stream, so memory is bounded by one chunk or one JSON document, never by an entry. Each
rejection has its own error class and names the offending entry. Nothing in an archive is ever
imported or executed: entries are bytes, written as regular files at most.

A pack is verified manifest first (:mod:`core.packs.verify`): :func:`read_control_files` reads
``manifest.json`` and ``signature.json`` (the builder writes them first, so nothing else is
read), and only once the signature holds is the rest read, each entry checked against the hash
the signed manifest lists (``expected``) as it streams.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from core.errors import (
    ArchiveAbsolutePath,
    ArchiveBomb,
    ArchiveCorrupt,
    ArchiveDuplicateEntry,
    ArchiveEntryTooLarge,
    ArchiveHardLink,
    ArchiveNameCollision,
    ArchiveNameNotPortable,
    ArchivePackedTooLarge,
    ArchivePathTooDeep,
    ArchivePathTraversal,
    ArchiveSpecialFile,
    ArchiveSymlink,
    ArchiveTooManyFiles,
    ArchiveUnpackedTooLarge,
    ChecksumMismatch,
    DocumentInvalid,
    FileSetMismatch,
    JsonTooLarge,
    MalformedJson,
    ManifestTooLarge,
    PackDeskError,
    TextNotUtf8,
    UnsafeArchive,
)
from core.packs.documents_io import ByteStream, DocumentRows, iter_json_lines
from core.packs.manifest import MANIFEST_FILE, SIGNATURE_FILE
from core.settings import ArchiveLimits

TEXT_SUFFIXES = (".json", ".jsonl", ".txt", ".md")
CONTROL_FILES = (MANIFEST_FILE, SIGNATURE_FILE)  # written first, read and verified first
MAX_PATH_DEPTH = 16  # path components of one entry
MAX_NAME_CHARS = 255  # one component (NAME_MAX of common filesystems)
_PORTABLE_NAME = re.compile(r"[A-Za-z0-9._-]+")
_CHUNK = 1024 * 1024
_MAX_LISTED = 5
_CONTENT_ERRORS = (TextNotUtf8, MalformedJson, JsonTooLarge, DocumentInvalid)
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
    path: Path,
    limits: ArchiveLimits,
    *,
    keep: Callable[[str], bool] = lambda _name: False,
    expected: Mapping[str, str] | None = None,
    documents_file: str | None = None,
) -> ArchiveContents:
    """Check and hash every entry without writing anything; keep the bytes of ``keep`` files.

    Args:
        expected: when given, path -> SHA-256 of every file the archive must hold (from a
            verified manifest): a file not listed is refused at its header, a file whose hash
            differs when it ends, a listed file never seen at the end.
        documents_file: the ``.jsonl`` entry whose rows must be valid documents.
    Raises:
        UnsafeArchive, ArchiveCorrupt, TextNotUtf8, MalformedJson, JsonTooLarge,
        ManifestTooLarge, DocumentInvalid; FileSetMismatch, ChecksumMismatch with ``expected``.
    """
    scanner = _Scanner(
        Path(path), limits, dest=None, keep=keep, expected=expected, documents_file=documents_file
    )
    return scanner.run()


def read_control_files(path: Path, limits: ArchiveLimits) -> dict[str, bytes]:
    """The bytes of ``manifest.json`` and ``signature.json`` (those present), read first.

    Reading stops as soon as both were read: in an archive the builder wrote they are the first
    two entries, so nothing else is decompressed before the signature is checked. An older
    archive (entries in plain sorted order) is read up to them, every entry on the way checked
    and discarded. Each is bounded by ``limits.max_manifest_bytes``.

    Raises:
        ManifestTooLarge, and every check of :func:`scan_archive` on the entries read.
    """
    scanner = _Scanner(
        Path(path),
        limits,
        dest=None,
        keep=lambda name: name in CONTROL_FILES,
        stop_when_kept=frozenset(CONTROL_FILES),
    )
    return scanner.run().kept


def extract_archive(
    path: Path,
    dest_dir: Path,
    limits: ArchiveLimits,
    *,
    expected: Mapping[str, str] | None = None,
    documents_file: str | None = None,
) -> dict[str, ArchiveEntry]:
    """Extract an archive into ``dest_dir``, which must not exist yet; it is created.

    On any rejection ``dest_dir`` is removed again, so nothing is left on disk.

    Args:
        expected, documents_file: as for :func:`scan_archive`.
    Returns:
        The file entries (path, size, SHA-256) that were written.
    Raises:
        FileExistsError: ``dest_dir`` already exists (the caller picks a fresh directory).
        Everything :func:`scan_archive` raises.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(mode=0o755)
    try:
        scanner = _Scanner(
            Path(path),
            limits,
            dest=dest_dir,
            keep=lambda _name: False,
            expected=expected,
            documents_file=documents_file,
        )
        return scanner.run().entries
    except BaseException:
        shutil.rmtree(dest_dir, ignore_errors=True)
        raise


def validate_text(name: str, data: bytes | bytearray) -> None:
    """Check a text entry: UTF-8 for every text suffix, JSON for ``.json``, JSON per line for
    ``.jsonl`` (blank lines allowed).

    Raises:
        TextNotUtf8: with the line and byte offset of the first bad byte.
        MalformedJson: with the line (and column) of the first bad JSON.
    """
    if name.endswith(".jsonl"):
        for _ in iter_json_lines(io.BytesIO(data), source=name, max_line_bytes=len(data) + 1):
            pass
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextNotUtf8(
            f"{name}: not UTF-8 text ({exc.reason} at line {line}, byte offset {exc.start})"
        ) from exc
    if name.endswith(".json"):
        _parse_json(name, text)


def _parse_json(name: str, text: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"{name}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:  # absurdly nested input
        raise MalformedJson(f"{name}: JSON nested too deeply") from exc


def write_archive(out_path: Path, files: Mapping[str, Path | bytes]) -> None:
    """Write ``files`` (archive path -> source file or bytes) as a deterministic ``.kpack``.

    ``manifest.json`` and ``signature.json`` come first (a reader verifies them before reading
    anything else), then the other entries sorted; all owned by 0:0 with mode 0644 and mtime 0,
    so the same inputs give the same bytes. The archive appears at ``out_path`` atomically
    (temp file + ``os.replace``).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp", delete=False
    )
    first = [name for name in CONTROL_FILES if name in files]
    ordered = first + sorted(name for name in files if name not in CONTROL_FILES)
    try:
        with handle:
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for name in ordered:
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


class _CountingReader:
    """A read-only stream that counts the bytes it passes and calls ``check(consumed)`` after
    every piece of at most one chunk, so that a bound is enforced while a large read (a tar
    header claiming megabytes) is still in progress, never after it was buffered."""

    def __init__(self, inner: BinaryIO, check: Callable[[int], None]) -> None:
        self._inner = inner
        self._check = check
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        remaining = size if size is not None and size >= 0 else sys.maxsize
        pieces = []
        while remaining > 0:
            piece = self._inner.read(min(remaining, _CHUNK))
            if not piece:
                break
            self.consumed += len(piece)
            self._check(self.consumed)
            pieces.append(piece)
            remaining -= len(piece)
        return b"".join(pieces)


class _MemberReader:
    """One member's data as a stream of chunks, each counted against the entry's bound and the
    archive's, hashed, and written out or kept as it passes."""

    def __init__(
        self,
        scanner: _Scanner,
        source: IO[bytes],
        raw_name: str,
        cap: int,
        out: BinaryIO | None,
        keep: bool,
    ) -> None:
        self._scanner = scanner
        self._source = source
        self._raw_name = raw_name
        self._cap = cap
        self._out = out
        self.kept = bytearray() if keep else None
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """At most one chunk (``size`` < 0 means one chunk, not everything)."""
        chunk = self._source.read(_CHUNK if size is None or size < 0 else min(size, _CHUNK))
        if chunk:
            self.size += len(chunk)
            if self.size > self._cap:
                raise self._scanner.entry_too_large(self._raw_name, self.size, self._cap)
            self._scanner.count(self._raw_name, len(chunk), self.size)
            self.digest.update(chunk)
            if self._out is not None:
                self._out.write(chunk)
            if self.kept is not None:
                self.kept += chunk
        return chunk

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class _Scanner:
    """One pass over an archive: checks, hashes, and optionally writes or keeps entries."""

    def __init__(
        self,
        path: Path,
        limits: ArchiveLimits,
        *,
        dest: Path | None,
        keep: Callable[[str], bool],
        expected: Mapping[str, str] | None = None,
        documents_file: str | None = None,
        stop_when_kept: frozenset[str] = frozenset(),
    ) -> None:
        self.path = path
        self.limits = limits
        self.dest = dest
        self.keep = keep
        self.expected = expected
        self.documents_file = documents_file
        self.stop_when_kept = stop_when_kept
        self.entries: dict[str, ArchiveEntry] = {}
        self.kept: dict[str, bytes] = {}
        self.directories: set[str] = set()
        self.folded: dict[str, str] = {}
        self.unpacked = 0
        self.current = ""

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
        with self.path.open("rb") as raw_file:
            # The file may grow while we read it; the packed limit holds for what we consume.
            raw = _CountingReader(raw_file, self._check_packed)
            self._raw = raw
            gz = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]
            # Counts the actual decompressed bytes, headers included: a backstop against
            # bombs hidden in tar framing (e.g. a PAX header claiming gigabytes), and the
            # compression ratio check.
            stream = _CountingReader(gz, self._check_decompressed)
            try:
                with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                    for member in tar:
                        self._entry(tar, member)
                        if self.stop_when_kept and self.stop_when_kept <= self.kept.keys():
                            return ArchiveContents(entries=self.entries, kept=self.kept)
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
        if self.expected is not None:
            missing = sorted(set(self.expected) - set(self.entries))
            if missing:
                raise FileSetMismatch(
                    f"{self.path.name}: files differ from the manifest; missing from the pack: "
                    + _listing(missing)
                )
        return ArchiveContents(entries=self.entries, kept=self.kept)

    def _check_packed(self, consumed: int) -> None:
        if consumed > self.limits.max_packed_bytes:
            raise ArchivePackedTooLarge(
                f"{self.path.name}: archive grew over the packed limit of "
                f"{self.limits.max_packed_bytes} bytes while being read"
            )

    def _check_decompressed(self, consumed: int) -> None:
        limits = self.limits
        budget = (
            limits.max_unpacked_bytes + limits.max_files * _PER_ENTRY_OVERHEAD + _ARCHIVE_OVERHEAD
        )
        if consumed > budget:
            raise ArchiveUnpackedTooLarge(
                f"{self.path.name}: decompressed stream exceeds {budget} bytes"
            )
        packed = max(self._raw.consumed, 1)
        if consumed > limits.ratio_floor_bytes and consumed > limits.max_compression_ratio * packed:
            where = f" (in {self.current!r})" if self.current else ""
            raise ArchiveBomb(
                f"{self.path.name}: {consumed} bytes decompressed from {packed} compressed "
                f"bytes{where}, more than {limits.max_compression_ratio} times as many: a "
                "compression bomb"
            )

    def count(self, raw_name: str, size: int, entry_size: int) -> None:
        """Count ``size`` more decompressed member bytes against the archive's limit."""
        self.unpacked += size
        if self.unpacked > self.limits.max_unpacked_bytes:
            raise self._too_large(raw_name, entry_size)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.current = member.name
        count = len(self.entries) + len(self.directories) + 1
        if count > self.limits.max_files:
            raise ArchiveTooManyFiles(
                f"{member.name!r}: archive has more than {self.limits.max_files} entries"
            )
        name = safe_entry_name(member.name)
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
        if self.expected is not None and name not in self.expected:
            # Refused at its header: content the manifest does not list is never read.
            raise FileSetMismatch(
                f"{self.path.name}: files differ from the manifest; not in the manifest: {name}"
            )
        remaining = self.limits.max_unpacked_bytes - self.unpacked
        if member.size > remaining:
            raise self._too_large(member.name, member.size)
        cap = self._cap(name)
        if member.size > cap:
            raise self.entry_too_large(member.name, member.size, cap)
        self._read_member(tar, member, name, cap)

    def _cap(self, name: str) -> int:
        if name in CONTROL_FILES:
            return self.limits.max_manifest_bytes
        return self.limits.max_entry_bytes

    def entry_too_large(self, raw_name: str, size: int, cap: int) -> PackDeskError:
        if safe_entry_name(raw_name) in CONTROL_FILES:
            return ManifestTooLarge(
                f"{raw_name!r}: {size} bytes or more, over the limit of {cap} bytes"
            )
        return ArchiveEntryTooLarge(
            f"{raw_name!r}: {size} bytes or more, over the per-entry limit of {cap} bytes"
        )

    def _claim(self, name: str, raw_name: str, *, is_dir: bool) -> None:
        """Register a path, rejecting repeats, a file that would also be a directory, and two
        names equal but for case."""
        if name in self.entries or (not is_dir and name in self.directories):
            raise ArchiveDuplicateEntry(f"{raw_name!r} appears more than once in the archive")
        if is_dir and name in self.directories:
            return  # a repeated directory entry carries no content; harmless
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in self.entries:
                raise ArchiveDuplicateEntry(
                    f"{raw_name!r} lies under {parent!r}, which is already a file"
                )
            if parent not in self.directories:
                self._fold(parent, raw_name)
                self.directories.add(parent)
        self._fold(name, raw_name)
        if is_dir:
            self.directories.add(name)
        elif self.dest is not None:
            (self.dest / name).parent.mkdir(parents=True, exist_ok=True)

    def _fold(self, name: str, raw_name: str) -> None:
        # Names are ASCII (safe_entry_name), so lower() is the case folding of every filesystem.
        other = self.folded.setdefault(name.lower(), name)
        if other != name:
            raise ArchiveNameCollision(
                f"{raw_name!r}: {name!r} and {other!r} differ only by case (one file on a "
                "case-insensitive filesystem)"
            )

    def _read_member(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, cap: int
    ) -> None:
        source = tar.extractfile(member)
        if source is None:  # cannot happen for a regular file; be explicit anyway
            raise ArchiveSpecialFile(f"{member.name!r} has no readable content")
        out = open(self.dest / name, "xb") if self.dest is not None else None  # noqa: SIM115
        content_error: PackDeskError | None = None
        try:
            reader = _MemberReader(self, source, member.name, cap, out, self.keep(name))
            if name.endswith(TEXT_SUFFIXES):
                rows = DocumentRows(name) if name == self.documents_file else None
                try:
                    check_text_stream(name, reader, self.limits, rows=rows)
                except _CONTENT_ERRORS as exc:
                    if self.expected is None:
                        raise
                    # Bytes that are not the signed ones are reported as such, not parsed
                    # further: read on (bounded as always) to learn the hash.
                    content_error = exc
            reader.drain()
        finally:
            if out is not None:
                out.close()
        sha256 = reader.digest.hexdigest()
        if self.expected is not None and sha256 != self.expected[name]:
            raise ChecksumMismatch(
                f"{self.path.name}: {name} has SHA-256 {sha256}, the signed manifest says "
                f"{self.expected[name]}"
            )
        if content_error is not None:
            raise content_error
        if reader.kept is not None:
            self.kept[name] = bytes(reader.kept)
        self.entries[name] = ArchiveEntry(path=name, size=reader.size, sha256=sha256)

    def _too_large(self, raw_name: str, size: int) -> ArchiveUnpackedTooLarge:
        return ArchiveUnpackedTooLarge(
            f"{raw_name!r}: unpacking it ({size} bytes) takes the archive over the unpacked "
            f"limit of {self.limits.max_unpacked_bytes} bytes"
        )


def check_text_stream(
    name: str, stream: ByteStream, limits: ArchiveLimits, *, rows: DocumentRows | None = None
) -> None:
    """Check a text entry as it streams: memory is bounded by ``limits.max_json_bytes``.

    ``.jsonl``: UTF-8 and JSON line by line (each line bounded), and each row a document when
    ``rows`` is given; ``.json``: the whole file bounded, then parsed; ``.txt`` and ``.md``:
    UTF-8, decoded incrementally.

    Raises:
        TextNotUtf8, MalformedJson, JsonTooLarge, DocumentInvalid: naming the file and line.
    """
    if name.endswith(".jsonl"):
        lines = iter_json_lines(stream, source=name, max_line_bytes=limits.max_json_bytes)
        for number, row in lines:
            if rows is not None:
                rows.add(number, row)
    elif name.endswith(".json"):
        data = bytearray()
        while chunk := stream.read(_CHUNK):
            data += chunk
            if len(data) > limits.max_json_bytes:
                raise JsonTooLarge(
                    f"{name}: over the limit of {limits.max_json_bytes} bytes for a JSON file"
                )
        validate_text(name, data)
    else:
        _check_utf8_stream(name, stream)


def _check_utf8_stream(name: str, stream: ByteStream) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1  # of the chunk about to be decoded
    chunk = b""
    while True:
        chunk = stream.read(_CHUNK)
        held = len(decoder.getstate()[0])  # bytes of a split character from the last chunk
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            position = max(exc.start - held, 0)
            bad_line = line + chunk.count(b"\n", 0, position)
            raise TextNotUtf8(
                f"{name}: not UTF-8 text ({exc.reason} at line {bad_line}, byte offset "
                f"{offset - held + exc.start})"
            ) from exc
        if not chunk:
            return
        line += chunk.count(b"\n")
        offset += len(chunk)


def safe_entry_name(raw: str) -> str:
    """Normalise an entry name to a relative POSIX path, or reject it.

    Names are made of portable characters only (``A-Z a-z 0-9 . _ -`` and ``/``), so a name
    cannot look like another (Cyrillic ``о`` for ``o``) nor have two Unicode forms (NFC, NFKC).

    Returns "" for the archive root (``.`` or ``./``), which only a directory may be.
    Raises:
        UnsafeArchive (control characters), ArchiveAbsolutePath, ArchivePathTraversal,
        ArchiveNameNotPortable, ArchivePathTooDeep.
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
    for part in parts:
        if not _PORTABLE_NAME.fullmatch(part):
            raise ArchiveNameNotPortable(
                f"{raw!r}: {part!r} has characters outside A-Z a-z 0-9 . _ - (look-alike "
                "letters, other scripts and Unicode forms are refused)"
            )
        if len(part) > MAX_NAME_CHARS:
            raise ArchivePathTooDeep(
                f"{raw!r}: a name of {len(part)} characters, over the limit of {MAX_NAME_CHARS}"
            )
    if len(parts) > MAX_PATH_DEPTH:
        raise ArchivePathTooDeep(
            f"{raw[:200]!r}: {len(parts)} levels deep, over the limit of {MAX_PATH_DEPTH}"
        )
    return "/".join(parts)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" (+{len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")
