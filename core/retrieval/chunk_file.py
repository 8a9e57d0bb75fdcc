"""A pack index's ``chunks.jsonl``, read line by line as searches need them.

A search returns the text of its top hits only, yet parsing every chunk at load cost the
medical pack (32,812 chunks, 32 MB) 0.6 s of each server start on the 2-core machine and more
memory as Python objects than the file's bytes. :class:`ChunkFile` keeps the bytes and one
offset per line, and parses a chunk when it is asked for (about 20 microseconds), keeping the
most recent ones.

The file is one the index builder wrote and whose SHA-256 the signed manifest holds (checked
when the pack is loaded, ``verify_index_files``), so its lines are not validated one by one at
load: the first and the last are, and a bad line met later is a :class:`PackFormatError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from core.errors import PackFormatError
from core.retrieval.chunking import Chunk

PARSED_CACHE_SIZE = 4096  # chunks kept parsed (the hits of recent searches)
_NEWLINE = 0x0A


class ChunkFile(Sequence[Chunk]):
    """The chunks of one ``chunks.jsonl``, in file order (chunk ids are positions).

    Raises:
        PackFormatError: (on construction) the file is missing, or its first or last line is
            not a chunk.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._data = self.path.read_bytes()
        except FileNotFoundError as exc:
            raise PackFormatError(f"{self.path} does not exist") from exc
        self._starts, self._ends = _line_bounds(self._data)
        self._parsed: dict[int, Chunk] = {}
        if len(self):
            self[0], self[len(self) - 1]  # noqa: B018 - parsed for their errors

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> Chunk: ...

    @overload
    def __getitem__(self, index: slice) -> list[Chunk]: ...

    def __getitem__(self, index: int | slice) -> Chunk | list[Chunk]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(f"chunk {index} of {len(self)}")
        chunk = self._parsed.get(position)
        if chunk is None:
            chunk = self._parse(position)
            if len(self._parsed) >= PARSED_CACHE_SIZE:
                self._parsed.clear()  # cheaper than an LRU's bookkeeping on every hit
            self._parsed[position] = chunk
        return chunk

    def __iter__(self) -> Iterator[Chunk]:
        return (self._parse(i) for i in range(len(self)))

    def _parse(self, position: int) -> Chunk:
        line = self._data[int(self._starts[position]) : int(self._ends[position])]
        try:
            return Chunk.from_json(json.loads(line))
        except (ValueError, TypeError) as exc:
            raise PackFormatError(
                f"{self.path} is not valid chunk JSONL (line of chunk {position}): {exc}"
            ) from exc


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` byte offsets of the non-blank lines of ``data`` (ends exclusive,
    without the newline), found in one vectorised pass."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE)
    if data and data[-1] != _NEWLINE:
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    keep = ends > starts
    # A line this short cannot hold a chunk: only whitespace (``\r``, spaces) is dropped here,
    # as the line-by-line reader skipped blank lines; anything else fails when parsed.
    for short in np.flatnonzero(keep & (ends - starts < 8)):
        keep[short] = bool(data[starts[short] : ends[short]].strip())
    return starts[keep], ends[keep]


__all__ = ["PARSED_CACHE_SIZE", "ChunkFile"]
