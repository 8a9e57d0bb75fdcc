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
