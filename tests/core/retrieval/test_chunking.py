"""Token-aware chunking with overlap, positions and citations kept."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from core.packs.documents import Document
from core.retrieval.chunking import chunk_documents, token_windows


def test_windows_overlap_and_cover_every_token() -> None:
    windows = token_windows(100, 40, 10)
    assert windows == [(0, 40), (30, 70), (60, 100)]
    assert token_windows(5, 40, 10) == [(0, 5)]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_windows_reject_bad_settings(size: int, overlap: int) -> None:
    with pytest.raises(ValidationError, match="chunk_"):
        token_windows(100, size, overlap)


def test_long_document_is_split_into_overlapping_token_chunks(embedder) -> None:
    sentence = "The borrower repays the principal with monthly interest payments. "
    document = Document(
        id="long-1",
        title="Loans",
        text=sentence * 40,
        source_url="https://example.test/loans",
    )
    short = Document(id="short-1", title="Short", text="One small answer.")
    chunks = chunk_documents(
        [document, short], embedder.tokenize_spans, chunk_tokens=32, chunk_overlap=8
    )

    long_chunks = [c for c in chunks if c.document_id == "long-1"]
    assert len(long_chunks) > 3
    assert [c.position for c in long_chunks] == list(range(len(long_chunks)))
    assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
    for chunk in long_chunks:
        assert chunk.title == "Loans"
        assert chunk.source_url == "https://example.test/loans"
        assert chunk.text == document.text[chunk.char_start : chunk.char_end]
        assert embedder.count_tokens(chunk.text) <= 32
    # Consecutive chunks share exactly `overlap` model tokens.
    for first, second in zip(long_chunks, long_chunks[1:], strict=False):
        spans = embedder.tokenize_spans(document.text)
        starts = [s for s, _ in spans]
        first_start = starts.index(first.char_start)
        second_start = starts.index(second.char_start)
        assert second_start - first_start == 32 - 8
    assert long_chunks[-1].char_end == len(document.text.rstrip())

    (only,) = [c for c in chunks if c.document_id == "short-1"]
    assert (only.position, only.text, only.source_url) == (0, "One small answer.", None)
    assert only.embedding_text() == "Short\nOne small answer."
