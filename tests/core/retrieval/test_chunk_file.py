"""ChunkFile: a pack index's chunks.jsonl read on demand, equal to reading every line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import PackFormatError
from core.retrieval import chunk_file
from core.retrieval.chunk_file import ChunkFile
from core.retrieval.chunking import Chunk


def _chunk(i: int) -> Chunk:
    return Chunk(chunk_id=i, document_id=f"doc-{i // 2}", title=f"Title {i}", source_url=None,
                 position=i % 2, char_start=0, char_end=5 + i, text=f"text of chunk {i} – ünïcode")


def _write(path: Path, lines: list[str], *, trailing_newline: bool = True) -> Path:
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf-8")
    return path


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_the_chunks_of_every_non_blank_line_in_order(tmp_path: Path,
                                                     trailing_newline: bool) -> None:
    chunks = [_chunk(i) for i in range(7)]
    lines = [json.dumps(c.to_json(), ensure_ascii=False) for c in chunks]
    lines.insert(3, "")
    lines.insert(5, "  \r")
    path = _write(tmp_path / "chunks.jsonl", lines, trailing_newline=trailing_newline)

    loaded = ChunkFile(path)

    assert len(loaded) == 7
    assert list(loaded) == chunks
    assert [loaded[i] for i in range(7)] == chunks
    assert loaded[-1] == chunks[-1] and loaded[2:5] == chunks[2:5]
    with pytest.raises(IndexError):
        loaded[7]


def test_an_empty_file_has_no_chunks(tmp_path: Path) -> None:
    assert len(ChunkFile(_write(tmp_path / "chunks.jsonl", [], trailing_newline=False))) == 0


def test_a_missing_file_is_a_pack_format_error(tmp_path: Path) -> None:
    with pytest.raises(PackFormatError, match="does not exist"):
        ChunkFile(tmp_path / "chunks.jsonl")


def test_a_bad_first_or_last_line_fails_at_load(tmp_path: Path) -> None:
    good = json.dumps(_chunk(0).to_json())
    for lines in (["{not json", good], [good, '{"chunk_id": 1}']):
        with pytest.raises(PackFormatError, match="not valid chunk JSONL"):
            ChunkFile(_write(tmp_path / "chunks.jsonl", lines))


def test_a_bad_line_in_the_middle_fails_when_it_is_read(tmp_path: Path) -> None:
    good = [json.dumps(_chunk(i).to_json()) for i in range(3)]
    loaded = ChunkFile(_write(tmp_path / "chunks.jsonl", [good[0], "[1, 2]", good[2]]))

    assert loaded[2] == _chunk(2)
    with pytest.raises(PackFormatError, match="chunk 1"):
        loaded[1]


def test_parsed_chunks_kept_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_file, "PARSED_CACHE_SIZE", 4)
    lines = [json.dumps(_chunk(i).to_json()) for i in range(10)]
    loaded = ChunkFile(_write(tmp_path / "chunks.jsonl", lines))

    for i in range(10):
        assert loaded[i] == _chunk(i)
        assert len(loaded._parsed) <= 4
