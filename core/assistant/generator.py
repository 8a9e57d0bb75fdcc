"""The optional answer generator: writes the final answer from retrieved passages.

The default answer is extractive and needs no generator. When the operator configures one
(``PACKDESK_GENERATOR_URL``), the assistant asks it to compose the answer from the passages it
already retrieved from the caller's active packs, and falls back to the extractive answer when
the generator fails, times out or returns nothing usable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Passage:
    """One retrieved passage given to the generator, with what it needs to cite it."""

    pack_id: str
    document_id: str
    title: str
    text: str


@runtime_checkable
class AnswerGenerator(Protocol):
    """Composes an answer to ``question`` using only ``passages``."""

    name: str

    async def compose(self, question: str, passages: list[Passage]) -> str:
        """Return the answer text.

        Raises:
            GeneratorError: the generator failed, timed out or answered nothing usable.
        """
        ...
