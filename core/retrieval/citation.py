"""What an answer cites: the one shape of a citation, from retrieval to storage to HTTP."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SCORE_DIGITS = 4  # enough to order citations; more only makes stored turns and answers noisier


@dataclass(frozen=True, slots=True)
class Citation:
    """A retrieved passage's source: pack, document id, title, source URL and relevance."""

    pack_id: str
    document_id: str
    title: str
    source_url: str | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Citation:
        """A citation read back from storage (JSON): unknown keys are ignored."""
        return cls(
            pack_id=str(data["pack_id"]),
            document_id=str(data["document_id"]),
            title=str(data.get("title", "")),
            source_url=data.get("source_url"),
            score=float(data.get("score", 0.0)),
        )


def rounded_score(score: float) -> float:
    return round(float(score), SCORE_DIGITS)
