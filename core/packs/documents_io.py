"""Reading ``documents.jsonl``: one :class:`Document` per line, errors with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic

from core.errors import DocumentInvalid, MalformedJson, TextNotUtf8
from core.packs.documents import Document
from core.packs.manifest import describe_validation_error


def read_documents(path_or_bytes: Path | bytes, *, source: str) -> list[Document]:
    """Parse a JSON-lines documents file; blank lines are skipped.

    Args:
        path_or_bytes: the file, or its bytes (e.g. straight from an archive).
        source: how to name the file in error messages (e.g. ``finance/documents.jsonl``).
    Returns:
        The documents in file order.
    Raises:
        TextNotUtf8: the bytes are not UTF-8 (names the line).
        MalformedJson: a line is not JSON (names the line).
        DocumentInvalid: a line is not a valid document, or repeats an earlier id (names the
            line, the field and the bad value).
    """
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise TextNotUtf8(f"{source}: line {bad_line}: not UTF-8 text ({exc.reason})") from exc
    documents: list[Document] = []
    first_line_of: dict[str, int] = {}
    # split("\n"), not splitlines(): JSON strings may legally contain U+2028 and friends.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedJson(
                f"{source}: line {number}: malformed JSON at column {exc.colno}: {exc.msg}"
            ) from exc
        except RecursionError as exc:
            raise MalformedJson(f"{source}: line {number}: JSON nested too deeply") from exc
        if not isinstance(row, dict):
            raise DocumentInvalid(
                f"{source}: line {number}: expected a JSON object, got {type(row).__name__}"
            )
        try:
            document = Document.model_validate(row)
        except pydantic.ValidationError as exc:
            raise DocumentInvalid(
                f"{source}: line {number}: {describe_validation_error(exc)}"
            ) from exc
        if document.id in first_line_of:
            raise DocumentInvalid(
                f"{source}: line {number}: document id {document.id!r} repeats line "
                f"{first_line_of[document.id]}"
            )
        first_line_of[document.id] = number
        documents.append(document)
    return documents
