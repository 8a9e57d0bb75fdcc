"""The shared store: files every node needs and none keeps alone, in the database.

Approved pack archives (``packs/<pack_id>/<version>``), the trusted signing keys
(``trust/<file name>``) and model files (``models/<name>/<relative path>``) live here, so a node
that starts with an empty data directory can install what the others serve (migration 0009).

A file is a row naming it (with its SHA-256 and size) and its content in chunks of
:data:`CHUNK_BYTES`, so neither a write nor a read holds a whole pack archive in memory. A file is
written in one transaction (a reader never sees half of one) and checked against its digest
when read back. Names are portable relative paths; they never reach the filesystem unchecked
(readers choose the local path).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core.errors import ChecksumMismatch, NotFound, ValidationError
from core.ledger.db import Database
from core.ledger.models import Base, utcnow

CHUNK_BYTES = 4 * 1024 * 1024
MAX_NAME_CHARS = 400
_NAME = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class SharedFileRow(Base):
    __tablename__ = "shared_files"
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SharedFileChunk(Base):
    __tablename__ = "shared_file_chunks"
    name: Mapped[str] = mapped_column(
        ForeignKey("shared_files.name", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class SharedFile:
    name: str
    sha256: str
    size: int


def check_name(name: str) -> str:
    """A shared file's name: relative, ``/``-separated, portable characters, no dot segments.

    Raises:
        ValidationError: any other name.
    """
    parts = name.split("/")
    if (
        len(name) > MAX_NAME_CHARS
        or not _NAME.match(name)
        or any(part in (".", "..") for part in parts)
    ):
        raise ValidationError(f"shared file name {name!r} is not a portable relative path")
    return name


def pack_archive_name(pack_id: str, version: str) -> str:
    return check_name(f"packs/{pack_id}/{version}")


def trust_file_name(file_name: str) -> str:
    return check_name(f"trust/{file_name}")


class SharedFiles:
    """Put, get, list and delete shared files (the ``shared_files`` tables)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, name: str, source: Path | bytes, *, replace: bool = False) -> bool:
        """Store ``source`` (a file, or bytes) as ``name``.

        Args:
            replace: overwrite an existing file of that name; else keep it.
        Returns:
            True when this call stored it; False when ``name`` existed (and ``replace`` is
            false), including when a concurrent writer stored it first.
        """
        check_name(name)
        digest, size = _digest(source)
        try:
            # A notifying write (the default): other nodes reconcile their packs and trust on it.
            async with self.db.write() as session:
                existing = await session.get(SharedFileRow, name)
                if existing is not None:
                    if not replace:
                        return False
                    if existing.sha256 == digest:
                        return True
                    await session.execute(
                        delete(SharedFileChunk).where(SharedFileChunk.name == name)
                    )
                    await session.delete(existing)
                    await session.flush()
                chunks = max(1, -(-size // CHUNK_BYTES))
                session.add(SharedFileRow(name=name, sha256=digest, size=size, chunks=chunks))
                await session.flush()
                for seq, data in enumerate(_chunks(source)):
                    chunk = SharedFileChunk(name=name, seq=seq, data=data)
                    session.add(chunk)
                    await session.flush()
                    session.expunge(chunk)  # one chunk in memory at a time
        except IntegrityError:
            return False  # another node stored the same name first
        return True

    async def stat(self, name: str) -> SharedFile | None:
        async with self.db.read() as session:
            row = await session.get(SharedFileRow, name)
            return None if row is None else SharedFile(row.name, row.sha256, row.size)

    async def list(self, prefix: str) -> list[SharedFile]:
        """The files whose name starts with ``prefix``, by name."""
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(SharedFileRow)
                    .where(SharedFileRow.name.startswith(prefix, autoescape=True))
                    .order_by(SharedFileRow.name)
                )
            ).scalars()
            return [SharedFile(row.name, row.sha256, row.size) for row in rows]

    async def read_bytes(self, name: str) -> bytes:
        """A small file's content (a key, a model's config), checked against its digest.

        Raises:
            NotFound: no such file. ChecksumMismatch: the content does not match its digest.
        """
        parts: list[bytes] = []
        await self._stream(name, parts.append)
        return b"".join(parts)

    async def fetch(self, name: str, target: Path) -> SharedFile:
        """Write the file to ``target`` (atomically, through a temporary file beside it).

        Raises:
            NotFound: no such file. ChecksumMismatch: the content does not match its digest;
            ``target`` is then left untouched.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
        try:
            with handle:
                info = await self._stream(name, handle.write)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return info

    async def delete(self, name: str) -> None:
        """Remove ``name`` (no error when absent)."""
        async with self.db.write() as session:
            await session.execute(delete(SharedFileChunk).where(SharedFileChunk.name == name))
            await session.execute(delete(SharedFileRow).where(SharedFileRow.name == name))

    async def _stream(self, name: str, write: Callable[[bytes], object]) -> SharedFile:
        digest = hashlib.sha256()
        size = 0
        async with self.db.read() as session:
            row = await session.get(SharedFileRow, name)
            if row is None:
                raise NotFound(f"no shared file {name!r}")
            info = SharedFile(row.name, row.sha256, row.size)
            for seq in range(row.chunks):
                chunk = await session.scalar(
                    select(SharedFileChunk.data).where(
                        SharedFileChunk.name == name, SharedFileChunk.seq == seq
                    )
                )
                if chunk is None:
                    raise ChecksumMismatch(f"shared file {name!r} is missing chunk {seq}")
                digest.update(chunk)
                size += len(chunk)
                write(chunk)
        if digest.hexdigest() != info.sha256 or size != info.size:
            raise ChecksumMismatch(f"shared file {name!r} does not match its SHA-256")
        return info


def _digest(source: Path | bytes) -> tuple[str, int]:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest(), len(source)
    with source.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest(), source.stat().st_size


def _chunks(source: Path | bytes) -> Iterator[bytes]:
    """``ceil(size / CHUNK_BYTES)`` chunks, at least one (an empty file is one empty chunk)."""
    if isinstance(source, bytes):
        for start in range(0, max(len(source), 1), CHUNK_BYTES):
            yield source[start : start + CHUNK_BYTES]
        return
    with source.open("rb") as stream:
        chunk = stream.read(CHUNK_BYTES)
        yield chunk
        while len(chunk) == CHUNK_BYTES:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk
