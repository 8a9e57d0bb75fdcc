"""What the assistant returns: plain data, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.assistant.sentiment import Sentiment
from core.retrieval.citation import Citation


@dataclass(frozen=True)
class Offer:
    """A pack that would answer the question, which the caller has not bought or activated."""

    pack_id: str
    name: str
    price: dict[str, Any]
    checkout_path: str
    owned: bool  # owned but not activated: activating is enough
    activate_path: str


@dataclass(frozen=True)
class IntentInfo:
    label: str
    confidence: float


@dataclass(frozen=True)
class HandoffInfo:
    handoff: bool = False
    reason: str | None = None


@dataclass
class Answer:
    text: str
    intent: IntentInfo
    citations: list[Citation] = field(default_factory=list)
    disclaimers: list[str] = field(default_factory=list)
    handoff: HandoffInfo = HandoffInfo()
    offer: Offer | None = None
    routed_pack_id: str | None = None
    out_of_scope: bool = False
    composed_by: str = "none"  # "extractive" | "template" | a generator's name | "none" (offers)
    sentiment: Sentiment | None = None


__all__ = ["Answer", "Citation", "HandoffInfo", "IntentInfo", "Offer"]
