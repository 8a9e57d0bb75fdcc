from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DocumentInvalid, MalformedJson, TextNotUtf8
from core.packs.documents_io import read_documents


def test_reads_documents_skipping_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "documents.jsonl"
    path.write_text('{"id": "a", "text": "one \u2028 line"}\n\n{"id": "b", "text": "two"}\n')
    documents = read_documents(path, source="p/documents.jsonl")
    assert [d.id for d in documents] == ["a", "b"]
    assert read_documents(path.read_bytes(), source="x") == documents


def test_non_utf8_names_line() -> None:
    with pytest.raises(TextNotUtf8, match="p/documents.jsonl: line 2"):
        read_documents(b'{"id": "a", "text": "ok"}\n\xff\n', source="p/documents.jsonl")


def test_malformed_json_names_line() -> None:
    with pytest.raises(MalformedJson, match="line 2: malformed JSON"):
        read_documents(b'{"id": "a", "text": "ok"}\n{oops}\n', source="d")


def test_invalid_document_names_line_field_and_value() -> None:
    with pytest.raises(DocumentInvalid, match=r"line 1: text: .*got ''"):
        read_documents(b'{"id": "a", "text": ""}\n', source="d")
    with pytest.raises(DocumentInvalid, match="line 1: .*body"):
        read_documents(b'{"id": "a", "text": "x", "body": 1}\n', source="d")
    with pytest.raises(DocumentInvalid, match="line 1: expected a JSON object, got list"):
        read_documents(b"[1, 2]\n", source="d")
