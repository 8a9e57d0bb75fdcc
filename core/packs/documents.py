"""Pack documents: one JSON object per line of ``documents.jsonl``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Document(BaseModel):
    """A source document of a pack. Long texts are chunked at build time.

    Only ``title`` and ``text`` are indexed. ``metadata`` is free-form and never indexed; the
    built-in packs keep the dataset's original questions in ``metadata["eval_questions"]`` so
    evaluation can ask them without the indexed text containing them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(default="", max_length=1000)
    text: str = Field(min_length=1)
    source_url: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)
