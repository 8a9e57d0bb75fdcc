"""The ledger's tables (SQLAlchemy 2 declarative). Migrations in ``core/migrations``.

Timestamps are timezone-aware UTC. Row ids are strings the services generate (``acc_...``) or
integers where nothing outside refers to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Entitlement rows in these states count as "the" entitlement of an account for a pack; a partial
# unique index keeps at most one of them, so concurrent grants cannot create a second one.
LIVE_STATUSES = ("active", "suspended")
LIVE_PREDICATE = "status IN ('active', 'suspended')"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PublisherKey(Base):
    __tablename__ = "publisher_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # raw 32 bytes
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Pack(Base):
    __tablename__ = "packs"
    pack_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None for built-in packs (publisher "PackDesk").
    publisher_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.account_id"), nullable=True
    )
    publisher_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PackVersion(Base):
    __tablename__ = "pack_versions"
    __table_args__ = (UniqueConstraint("pack_id", "version", name="uq_pack_versions_pack_version"),)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pack_id: Mapped[str] = mapped_column(ForeignKey("packs.pack_id"), index=True)
    version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))  # pending|approved|rejected|withdrawn
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    archive_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    pricing_model: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Price(Base):
    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("provider", "lookup_key", name="uq_prices_provider_key"),)
    price_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40))
    lookup_key: Mapped[str] = mapped_column(String(200))
    pack_id: Mapped[str] = mapped_column(ForeignKey("packs.pack_id"))
    version: Mapped[str] = mapped_column(String(80))
    pricing_model: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    provider_price_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BillingCustomer(Base):
    __tablename__ = "billing_customers"
    __table_args__ = (
        UniqueConstraint("provider", "customer_ref", name="uq_billing_customers_ref"),
    )
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(200))


class CheckoutOrder(Base):
    __tablename__ = "checkout_orders"
    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    pack_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(80), nullable=True)
    pricing_model: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(30))  # open|awaiting_payment|paid|failed|refunded
    payment_ref: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    subscription_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The provider's price the checkout was opened with; a completion naming another grants
    # nothing. None for orders opened before migration 0003.
    price_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A third-party pack's sale (migration 0006): its publisher, the connected account the
    # publisher's share goes to and the platform fee agreed when the checkout was opened (a
    # one-time price's fee in minor units; a subscription's as basis points of each invoice).
    publisher_account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    destination_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    application_fee: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fee_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Entitlement(Base):
    __tablename__ = "entitlements"
    __table_args__ = (
        Index(
            "uq_entitlements_live",
            "account_id",
            "pack_id",
            unique=True,
            sqlite_where=text(LIVE_PREDICATE),
            postgresql_where=text(LIVE_PREDICATE),
        ),
    )
    entitlement_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    pack_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(30))  # one_time|subscription|local|admin
    status: Mapped[str] = mapped_column(String(20))  # active|suspended|refunded|canceled|revoked
    current_period_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    order_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subscription_ref: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Activation(Base):
    __tablename__ = "activations"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    pack_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProcessedBillingEvent(Base):
    __tablename__ = "processed_billing_events"
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BillingObject(Base):
    """What the ledger last learnt about one provider object: a payment, a charge, a
    subscription (migration ``0003``).

    Providers deliver events late, twice and out of order. Rows in a final state are
    tombstones that no late or retried event undoes: a ``refunded`` payment is never granted,
    an ``ended`` subscription never reactivated. ``changed_at`` is the provider's time of the
    newest event applied to a subscription, so an older delivery is recognised as stale. Every
    event about an object locks its row first, which serialises them across processes.
    """

    __tablename__ = "billing_objects"
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # payment|charge|subscription
    object_ref: Mapped[str] = mapped_column(String(255), primary_key=True)
    # payment/charge: paid|refunded; subscription: unknown (no event yet), the provider's
    # status (active, past_due, ...) or ended.
    status: Mapped[str] = mapped_column(String(30))
    current_period_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Append-only: triggers created by the initial migration refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(60))
    account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    pack_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BusinessProfileRow(Base):
    """A customer account's business profile: what its reply templates refer to."""

    __tablename__ = "business_profiles"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- publisher revenue (migration 0006) ---------------------------------------------------------
class PayoutAccount(Base):
    """A publisher's connected account at the billing provider (Stripe Connect Express, or the
    local provider's simulated one) and what the provider last said about it."""

    __tablename__ = "payout_accounts"
    __table_args__ = (
        UniqueConstraint("provider", "account_ref", name="uq_payout_accounts_ref"),
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    account_ref: Mapped[str] = mapped_column(String(255))
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The provider's time of the newest account.updated applied: an older delivery is stale.
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PlatformFee(Base):
    """The platform's share of a sale in basis points: per publisher, or the default (``*``)."""

    __tablename__ = "platform_fees"
    publisher_account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fee_bps: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EarningsEntry(Base):
    """One movement of a publisher's money (append-only: triggers refuse UPDATE and DELETE).

    ``gross`` is what the customer paid (negative when money went back), ``fee`` the platform's
    share of it and ``net`` the publisher's (``gross = fee + net``). ``source_ref`` is the
    provider object the row accounts for; (provider, kind, source_ref) is unique, so a
    redelivered or repeated event never records the same movement twice.
    """

    __tablename__ = "earnings"
    __table_args__ = (
        UniqueConstraint("provider", "kind", "source_ref", name="uq_earnings_source"),
        Index("ix_earnings_publisher_time", "publisher_account_id", "occurred_at"),
    )
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # sale|renewal|refund|dispute_lost
    source_ref: Mapped[str] = mapped_column(String(255))
    publisher_account_id: Mapped[str] = mapped_column(String(40))
    pack_id: Mapped[str] = mapped_column(String(64))
    customer_account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[int] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(Integer)
    net: Mapped[int] = mapped_column(Integer)
    order_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    payment_ref: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    charge_ref: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    invoice_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subscription_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    transfer_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    destination_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TransferReversal(Base):
    """A transfer reversal the ledger owes the provider: the transfer's total reversed amount
    must reach ``target_reversed``. Settled after the event that raised it commits; a failed
    call stays ``pending`` and is retried (``packdesk publisher reversals``)."""

    __tablename__ = "transfer_reversals"
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    # The charge whose transfer is reversed; the provider resolves the transfer from it when
    # the event did not name one.
    charge_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    transfer_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    target_reversed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # pending|done
    reversal_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
