"""Request and response bodies of the HTTP API. Handlers never return ORM rows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(_Body):
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(default=None, max_length=64)
    stream: bool = False


class SearchRequest(_Body):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=5, ge=1, le=50)
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"


class CheckoutRequestBody(_Body):
    pack_id: str = Field(min_length=1, max_length=64)


class PublisherKeyRequest(_Body):
    public_key: str = Field(min_length=1, max_length=4000)


class CreateAccountRequest(_Body):
    name: str = Field(min_length=1, max_length=120)
    scope: Literal["customer", "publisher", "admin"]


class RejectRequest(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class PackSummary(BaseModel):
    id: str
    name: str
    domain: str
    description: str
    version: str
    price: dict[str, Any]
    publisher: str


class CheckoutResponse(BaseModel):
    checkout_url: str
    session_id: str


class SearchHitOut(BaseModel):
    pack_id: str
    document_id: str
    title: str
    source_url: str | None
    text: str
    score: float


class AccountCreated(BaseModel):
    account_id: str
    name: str
    scope: str
    api_key: str  # shown once


def pack_summary(manifest: Any) -> PackSummary:
    return PackSummary(
        id=manifest.id,
        name=manifest.name,
        domain=manifest.domain,
        description=manifest.description,
        version=manifest.version,
        price=manifest.pricing.model_dump(),
        publisher=manifest.publisher,
    )


def to_json_dict(row: Any) -> dict[str, Any]:
    """A service result (dataclass, pydantic model or dict) as a JSON-ready dict."""
    from dataclasses import asdict, is_dataclass

    if isinstance(row, dict):
        return row
    if hasattr(row, "model_dump"):
        return dict(row.model_dump(mode="json"))
    if is_dataclass(row) and not isinstance(row, type):
        data = asdict(row)
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
    raise TypeError(f"cannot serialise {type(row).__name__}")
