"""Request and response bodies of the HTTP API. Handlers never return ORM rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# One length limit for questions and queries: PACKDESK_MAX_QUERY_CHARS, checked by the use
# case (AskService.ask) and the search route before any work, so the schemas state none.
_QUERY_LIMIT = "At most `PACKDESK_MAX_QUERY_CHARS` characters (default 2000); longer is 422."


class AskRequest(_Body):
    question: str = Field(min_length=1, description=_QUERY_LIMIT)
    conversation_id: str | None = Field(
        default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="an id a previous answer returned (conv_...)",
    )
    stream: bool = False
    detail: Literal["brief", "full"] = Field(
        default="brief",
        description='"brief": at most 3 whole sentences (about 90 words), each followed by its '
        'citation marker [n] (citations[n-1]); "full": the best passages as they are',
    )


class SearchRequest(_Body):
    query: str = Field(min_length=1, description=_QUERY_LIMIT)
    top_k: int = Field(default=5, ge=1, le=50)
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"


class CheckoutRequestBody(_Body):
    pack_id: str = Field(min_length=1, max_length=64)


class PublisherKeyRequest(_Body):
    public_key: str = Field(min_length=1, max_length=4000)
    # Optional here so that a request without it gets the stable key-proof-invalid problem,
    # which says how to make one, rather than a generic validation error.
    signature: str | None = Field(
        default=None,
        max_length=200,
        description="Proof of possession (required): base64 of the Ed25519 signature, by the "
        "private key, of the bytes `packdesk publisher key registration\\n` followed by the "
        "caller's account id (UTF-8); `packdesk keys prove --key KEY --account ACCOUNT_ID` "
        "prints it. Missing or wrong: 422 key-proof-invalid, nothing stored.",
    )


# Text that is stored as it is: PostgreSQL text cannot hold U+0000, so it is refused here (422)
# rather than failing the write (500).
NO_NUL = r"^[^\x00]*$"


class CreateAccountRequest(_Body):
    name: str = Field(min_length=1, max_length=120, pattern=NO_NUL)
    scope: Literal["customer", "publisher", "admin"]


class RejectRequest(_Body):
    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)


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


class IntentOut(BaseModel):
    label: str
    confidence: float


class SentimentOut(BaseModel):
    compound: float
    label: str


class HandoffOut(BaseModel):
    handoff: bool
    reason: str | None


class CitationOut(BaseModel):
    pack_id: str
    document_id: str
    title: str
    source_url: str | None
    score: float


class OfferOut(BaseModel):
    """A pack that would answer, which the caller has not bought (or not activated)."""

    pack_id: str
    name: str
    price: dict[str, Any]
    checkout_path: str
    owned: bool
    activate_path: str


class AskResponse(BaseModel):
    """The assistant's answer to one question, and where its turn was stored."""

    text: str
    intent: IntentOut
    citations: list[CitationOut]
    disclaimers: list[str]
    handoff: HandoffOut
    offer: OfferOut | None
    routed_pack_id: str | None
    out_of_scope: bool
    composed_by: str = Field(description='"extractive", "template", a generator\'s name, or "none"')
    sentiment: SentimentOut | None
    conversation_id: str | None = Field(
        description="null only when the turn was not stored: the account deleted its data "
        "while the question was being answered"
    )
    turn_id: int | None


class AnswerPiece(BaseModel):
    """Data of an ``answer`` server-sent event: the next piece of the answer text."""

    text: str


class AskStreamSummary(BaseModel):
    """Data of the ``citations`` server-sent event, sent after the last ``answer`` piece."""

    citations: list[CitationOut]
    offer: OfferOut | None
    disclaimers: list[str]
    handoff: HandoffOut
    sentiment: SentimentOut | None
    conversation_id: str | None


class UploadAcceptedOut(BaseModel):
    """An uploaded pack version, recorded and waiting for review."""

    pack_id: str
    version: str
    status: str
    key_id: str = Field(description="the id of the publisher key that signed the archive")


class ReviewOut(BaseModel):
    """A pack version after an operator's review."""

    pack_id: str
    version: str
    status: str


class PackVersionOut(BaseModel):
    """One version a publisher uploaded, with its review status (no server paths)."""

    pack_id: str
    version: str
    status: str = Field(description="pending, approved, rejected or withdrawn")
    reason: str | None = Field(description="why it was rejected, when it was")
    publisher: str
    pricing_model: str
    amount: int
    currency: str
    submitted_at: datetime
    reviewed_at: datetime | None

    @classmethod
    def of(cls, info: Any) -> PackVersionOut:
        """From a :class:`core.ledger.catalog.PackVersionInfo` (its archive path left out)."""
        return cls(**{name: getattr(info, name) for name in cls.model_fields})


class LoadedPackOut(BaseModel):
    """A pack version this server serves."""

    pack_id: str
    version: str


class SkippedPackOut(BaseModel):
    """An approved, installed pack version this server could not load, and why."""

    pack_id: str
    version: str
    code: str = Field(description="the error's stable code, e.g. checksum-mismatch")
    error: str


class AdminPacksOut(BaseModel):
    """What this server process serves, and the approved versions it skipped."""

    loaded: list[LoadedPackOut]
    skipped: list[SkippedPackOut]


class AccountCreated(BaseModel):
    account_id: str
    name: str
    scope: str
    api_key: str  # shown once


# --- publisher revenue (issue 19) -------------------------------------------------------------
class PayoutStatusOut(BaseModel):
    """A publisher's connected account as the billing provider last described it."""

    onboarding_started: bool
    provider: str | None
    account_ref: str | None = Field(description="the connected account id (acct_...)")
    details_submitted: bool
    charges_enabled: bool
    payouts_enabled: bool
    can_receive_payouts: bool = Field(
        description="details submitted and payouts enabled: paid packs may be approved and sold"
    )
    fee_bps: int = Field(description="the platform fee on this publisher's sales (2000 = 20%)")
    test_mode: bool
    updated_at: datetime | None

    @classmethod
    def of(cls, status: Any, *, test_mode: bool) -> PayoutStatusOut:
        """From a :class:`core.ledger.payouts.PayoutStatus`."""
        return cls(
            onboarding_started=status.onboarding_started,
            provider=status.provider,
            account_ref=status.account_ref,
            details_submitted=status.details_submitted,
            charges_enabled=status.charges_enabled,
            payouts_enabled=status.payouts_enabled,
            can_receive_payouts=status.can_receive_payouts,
            fee_bps=status.fee_bps,
            test_mode=test_mode,
            updated_at=status.updated_at,
        )


class OnboardingOut(BaseModel):
    url: str = Field(description="single-use onboarding link (Stripe Account Link, or TEST MODE)")
    status: PayoutStatusOut


class FeeRequest(_Body):
    fee_bps: int = Field(ge=0, le=10000, description="basis points of each sale: 2000 = 20%")

    @field_validator("fee_bps", mode="before")
    @classmethod
    def _a_whole_number(cls, value: Any) -> Any:
        # Before lax coercion (the app validates bodies non-strictly): false or "10" is no fee.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number of basis points (2000 = 20%), got {value!r}")
        return value


class FeeOut(BaseModel):
    publisher_account_id: str | None = Field(description="null: the default")
    fee_bps: int
    updated_by: str | None
    updated_at: datetime | None


class TotalsOut(BaseModel):
    """Sums in minor units of ``currency``: ``gross = sold - returned = fee + net``."""

    currency: str
    sold: int
    returned: int
    gross: int
    fee: int
    net: int
    sales: int
    returns: int


class PackTotalsOut(TotalsOut):
    pack_id: str


class MonthTotalsOut(TotalsOut):
    month: str = Field(description="YYYY-MM (UTC)")


class StatementOut(BaseModel):
    """A publisher's earnings from ``from`` to ``to`` (inclusive days, UTC)."""

    publisher_account_id: str
    from_date: str = Field(description="YYYY-MM-DD, inclusive")
    to_date: str = Field(description="YYYY-MM-DD, inclusive")
    totals: list[TotalsOut]
    per_pack: list[PackTotalsOut]
    per_month: list[MonthTotalsOut]
    entries: int

    @classmethod
    def of(cls, statement: Any) -> StatementOut:
        """From a :class:`core.ledger.earnings.Statement`."""
        from dataclasses import asdict

        return cls(
            publisher_account_id=statement.publisher_account_id,
            from_date=statement.start.isoformat(),
            to_date=statement.end.isoformat(),
            totals=[TotalsOut(**asdict(t)) for t in statement.totals],
            per_pack=[PackTotalsOut(pack_id=p, **asdict(t)) for p, t in statement.per_pack],
            per_month=[MonthTotalsOut(month=m, **asdict(t)) for m, t in statement.per_month],
            entries=statement.entries,
        )


class LocalRefundOut(BaseModel):
    session_id: str
    duplicate: bool
    outcome: str
    test_mode: bool = True


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
