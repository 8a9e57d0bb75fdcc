"""Token-aware chunking of pack documents, with overlap, at pack build time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import ValidationError
from core.packs.documents import Document


@dataclass(frozen=True)
class Chunk:
    """A piece of one document: what is embedded, indexed and returned as a search hit.

    ``position`` is the chunk's order within its document (0-based); ``char_start`` and
    ``char_end`` locate its text in the document's ``text``.
    """

    chunk_id: int
    document_id: str
    title: str
    source_url: str | None
    position: int
    char_start: int
    char_end: int
    text: str

    def embedding_text(self) -> str:
        """What the embedder sees: the title gives short chunks their topic."""
        return f"{self.title}\n{self.text}" if self.title else self.text

    def lexical_text(self) -> str:
        """What BM25 indexes: the same title + text as the dense side."""
        return self.embedding_text()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        return cls(**data)


def token_windows(n_tokens: int, chunk_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Half-open token ranges of size ``chunk_tokens`` that share ``overlap`` tokens.

    The last window ends at ``n_tokens``; a text shorter than one window is one window.

    Raises:
        ValidationError: ``chunk_tokens < 1`` or ``overlap`` not in ``0..chunk_tokens-1``.
    """
    if chunk_tokens < 1:
        raise ValidationError(f"chunk_tokens must be positive, got {chunk_tokens}")
    if not 0 <= overlap < chunk_tokens:
        raise ValidationError(
            f"chunk_overlap must be in 0..{chunk_tokens - 1} (below chunk_tokens), got {overlap}"
        )
    if n_tokens <= chunk_tokens:
        return [(0, n_tokens)]
    stride = chunk_tokens - overlap
    windows = []
    start = 0
    while True:
        end = min(start + chunk_tokens, n_tokens)
        windows.append((start, end))
        if end == n_tokens:
            return windows
        start += stride


def chunk_documents(
    documents: Iterable[Document],
    tokenize_spans: Callable[[str], list[tuple[int, int]]],
    *,
    chunk_tokens: int,
    chunk_overlap: int,
) -> list[Chunk]:
    """Split each document's text into overlapping windows of model tokens.

    Args:
        documents: the pack's documents, in file order.
        tokenize_spans: the embedder's ``tokenize_spans`` (character span of every model token),
            so a chunk never exceeds what the model reads.
        chunk_tokens: tokens per chunk.
        chunk_overlap: tokens shared by consecutive chunks of one document.
    Returns:
        Chunks numbered ``0..n-1`` in document order, then position order.
    """
    chunks: list[Chunk] = []
    for document in documents:
        spans = tokenize_spans(document.text)
        if not spans:  # text of only whitespace/control characters: keep it whole
            spans = [(0, len(document.text))]
        for position, (first, last) in enumerate(
            token_windows(len(spans), chunk_tokens, chunk_overlap)
        ):
            char_start, char_end = spans[first][0], spans[last - 1][1]
            chunks.append(
                Chunk(
                    chunk_id=len(chunks),
                    document_id=document.id,
                    title=document.title,
                    source_url=document.source_url,
                    position=position,
                    char_start=char_start,
                    char_end=char_end,
                    text=document.text[char_start:char_end],
                )
            )
    return chunks
