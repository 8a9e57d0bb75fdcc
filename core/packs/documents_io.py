"""Reading JSON lines, streamed: ``documents.jsonl`` and every other ``.jsonl`` of a pack.

Lines are read a chunk at a time and parsed one by one, so memory is bounded by the longest line
(itself bounded), never by the file: a documents file that decompresses to gigabytes costs no
more to check than its longest line. Every error names the file and the 1-based line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pydantic

from core.errors import DocumentInvalid, JsonTooLarge, MalformedJson, TextNotUtf8
from core.packs.documents import Document
from core.packs.manifest import describe_validation_error

# Default bound of one line (ArchiveLimits.max_json_bytes has the same default).
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class ByteStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def iter_json_lines(
    stream: ByteStream, *, source: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, Any]]:
    """Parse a JSON-lines stream one line at a time; blank lines are skipped.

    Lines are split on ``\\n`` only (JSON strings may hold U+2028 and friends), each decoded as
    strict UTF-8 and parsed on its own.

    Yields:
        ``(line number, parsed value)`` for each non-blank line.
    Raises:
        TextNotUtf8: a line is not UTF-8 (names the line and the byte offset in the file).
        MalformedJson: a line is not JSON (names the line and column).
        JsonTooLarge: a line is longer than ``max_line_bytes``, raised as soon as the line
            crosses the bound (the rest of it is never buffered).
    """
    pending = bytearray()
    number = 0
    line_start = 0  # byte offset of the pending line in the file
    while chunk := stream.read(_CHUNK):
        view, start = memoryview(chunk), 0
        while True:
            end = chunk.find(b"\n", start)
            pending += view[start:] if end < 0 else view[start:end]
            if len(pending) > max_line_bytes:
                raise JsonTooLarge(
                    f"{source}: line {number + 1} is longer than the limit of {max_line_bytes} "
                    "bytes"
                )
            if end < 0:
                break
            number += 1
            value = _parse_line(pending, number, line_start, source)
            line_start += len(pending) + 1
            pending.clear()
            start = end + 1
            if value is not _BLANK:
                yield number, value
    if pending:
        value = _parse_line(pending, number + 1, line_start, source)
        if value is not _BLANK:
            yield number + 1, value


_BLANK = object()


def _parse_line(line: bytearray, number: int, line_start: int, source: str) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextNotUtf8(
            f"{source}: line {number}: not UTF-8 text ({exc.reason} at byte offset "
            f"{line_start + exc.start})"
        ) from exc
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"{source}: line {number}: malformed JSON at column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:  # absurdly nested input
        raise MalformedJson(f"{source}: line {number}: JSON nested too deeply") from exc


class DocumentRows:
    """Checks parsed ``documents.jsonl`` rows one at a time: each a valid document, ids unique."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._first_line_of: dict[str, int] = {}

    def add(self, number: int, row: Any) -> Document:
        """Validate the row of line ``number``.

        Raises:
            DocumentInvalid: not a JSON object, not a valid document, or an id seen before
                (names the line, the field and the bad value).
        """
        if not isinstance(row, dict):
            raise DocumentInvalid(
                f"{self._source}: line {number}: expected a JSON object, got {type(row).__name__}"
            )
        try:
            document = Document.model_validate(row)
        except pydantic.ValidationError as exc:
            raise DocumentInvalid(
                f"{self._source}: line {number}: {describe_validation_error(exc)}"
            ) from exc
        if document.id in self._first_line_of:
            raise DocumentInvalid(
                f"{self._source}: line {number}: document id {document.id!r} repeats line "
                f"{self._first_line_of[document.id]}"
            )
        self._first_line_of[document.id] = number
        return document


def iter_documents(
    path: Path, *, source: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Document]:
    """The documents of a JSON-lines file, in file order, read as a stream.

    Raises:
        TextNotUtf8, MalformedJson, JsonTooLarge: see :func:`iter_json_lines`.
        DocumentInvalid: see :meth:`DocumentRows.add`.
    """
    rows = DocumentRows(source)
    with Path(path).open("rb") as stream:
        for number, row in iter_json_lines(stream, source=source, max_line_bytes=max_line_bytes):
            yield rows.add(number, row)


def read_documents(path_or_bytes: Path | bytes, *, source: str) -> list[Document]:
    """Parse a JSON-lines documents file; blank lines are skipped.

    Args:
        path_or_bytes: the file (streamed), or its bytes.
        source: how to name the file in error messages (e.g. ``finance/documents.jsonl``).
    Returns:
        The documents in file order.
    Raises:
        TextNotUtf8: the bytes are not UTF-8 (names the line).
        MalformedJson: a line is not JSON (names the line).
        JsonTooLarge: a line is longer than :data:`DEFAULT_MAX_LINE_BYTES`.
        DocumentInvalid: a line is not a valid document, or repeats an earlier id (names the
            line, the field and the bad value).
    """
    if isinstance(path_or_bytes, bytes):
        import io

        rows = DocumentRows(source)
        lines = iter_json_lines(io.BytesIO(path_or_bytes), source=source)
        return [rows.add(number, row) for number, row in lines]
    return list(iter_documents(path_or_bytes, source=source))
