"""Publishers' payouts: connected accounts, their onboarding and status, and the platform fee.

A publisher is paid through a connected account at the billing provider (a Stripe Connect
Express account; the local provider simulates one in TEST MODE). The provider reports the
account's state by ``account.updated`` events; :func:`apply_account_update` records it in the
transaction that applies the event. A publisher *can receive payouts* once its details are
submitted and payouts are enabled; only then may a paid pack of it be approved or sold.

The platform fee is in basis points (1/100 of a percent): per publisher when the operator set
one, else the operator's default, else ``PACKDESK_PLATFORM_FEE_BPS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ConfigError, NotFound, PayoutsNotEnabled, ValidationError
from core.ledger.billing import BillingProvider, PayoutAccountUpdated, PayoutProvider
from core.ledger.common import as_utc, audit, dialect_name, insert_for, utcnow_
from core.ledger.db import Database
from core.ledger.models import Account, PayoutAccount, PlatformFee

DEFAULT_FEE_KEY = "*"  # the platform_fees row of the operator's default
MAX_FEE_BPS = 10_000


def fee_of(amount: int, fee_bps: int) -> int:
    """The platform's share of ``amount`` (minor units), rounded half up to a minor unit."""
    return (amount * fee_bps + MAX_FEE_BPS // 2) // MAX_FEE_BPS


@dataclass(frozen=True)
class PayoutStatus:
    """A publisher's connected account as the provider last described it."""

    account_id: str
    provider: str | None
    account_ref: str | None
    details_submitted: bool
    charges_enabled: bool
    payouts_enabled: bool
    fee_bps: int
    updated_at: datetime | None

    @property
    def onboarding_started(self) -> bool:
        return self.account_ref is not None

    @property
    def can_receive_payouts(self) -> bool:
        return self.details_submitted and self.payouts_enabled


@dataclass(frozen=True)
class FeeSetting:
    publisher_account_id: str | None  # None: the default
    fee_bps: int
    updated_by: str | None
    updated_at: datetime | None


class PayoutService:
    """Onboarding and status of publishers' connected accounts; the platform fee schedule."""

    def __init__(self, db: Database, provider: BillingProvider | None = None) -> None:
        """
        Args:
            provider: the billing provider in use; None where only fees are read or set (the
                fee commands of the CLI).
        """
        self.db = db
        self.provider = provider

    # --- connected accounts -------------------------------------------------------------------
    async def start_onboarding(self, account_id: str) -> tuple[PayoutStatus, str]:
        """The publisher's connected account (created at the first call) and a fresh onboarding
        link for it.

        Raises:
            ConfigError: the billing provider pays no publishers.
            NotFound: no such publisher account.
            BillingProviderUnavailable: the provider refused or could not be reached.
        """
        provider, name = self._payout_provider()
        async with self.db.read() as session:
            account = await session.get(Account, account_id)
            row = await session.get(PayoutAccount, account_id)
        if account is None or account.scope != "publisher":
            raise NotFound(f"no publisher account {account_id!r}")
        if row is None or row.provider != name:
            # Idempotent at the provider per account: two concurrent first calls make one.
            account_ref = await provider.create_connected_account(
                account_id=account_id, name=account.name
            )
            async with self.db.write(changes_access=False) as session:
                statement = insert_for(session, PayoutAccount).values(
                    account_id=account_id,
                    provider=name,
                    account_ref=account_ref,
                    details_submitted=False,
                    charges_enabled=False,
                    payouts_enabled=False,
                    created_at=utcnow_(),
                    updated_at=utcnow_(),
                )
                # A row of another provider (the operator switched providers) is replaced: its
                # account cannot receive this provider's transfers.
                statement = statement.on_conflict_do_update(
                    index_elements=["account_id"],
                    set_={
                        "provider": name,
                        "account_ref": account_ref,
                        "details_submitted": False,
                        "charges_enabled": False,
                        "payouts_enabled": False,
                        "changed_at": None,
                        "updated_at": utcnow_(),
                    },
                    where=PayoutAccount.provider != name,
                )
                await session.execute(statement)
                audit(
                    session,
                    "payouts.account_created",
                    account_id=account_id,
                    provider=name,
                    account_ref=account_ref,
                )
        status = await self.status(account_id)
        assert status.account_ref is not None  # stored just above
        base = self.db.settings.public_base_url.rstrip("/")
        url = await provider.create_onboarding_link(
            account_ref=status.account_ref,
            refresh_url=f"{base}/v1/billing/connect/refresh",
            return_url=f"{base}/v1/billing/connect/return",
        )
        return status, url

    async def status(self, account_id: str) -> PayoutStatus:
        """The publisher's connected account and fee (not started: no account, all false)."""
        async with self.db.read() as session:
            row = await session.get(PayoutAccount, account_id)
            fee_bps = await fee_bps_for(session, account_id, self.db.settings.platform_fee_bps)
        if row is None or self.provider is None or row.provider != self.provider.name:
            return PayoutStatus(account_id, None, None, False, False, False, fee_bps, None)
        return PayoutStatus(
            account_id=account_id,
            provider=row.provider,
            account_ref=row.account_ref,
            details_submitted=row.details_submitted,
            charges_enabled=row.charges_enabled,
            payouts_enabled=row.payouts_enabled,
            fee_bps=fee_bps,
            updated_at=as_utc(row.updated_at),
        )

    async def account_for_ref(self, account_ref: str) -> str | None:
        """The publisher whose connected account (with this provider) is ``account_ref``."""
        if self.provider is None:
            return None
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(PayoutAccount).where(
                        PayoutAccount.provider == self.provider.name,
                        PayoutAccount.account_ref == account_ref,
                    )
                )
            ).scalar()
        return row.account_id if row is not None else None

    async def require_payouts(self, account_id: str, *, what: str) -> PayoutStatus:
        """The publisher's status, when it can receive payouts.

        Raises:
            PayoutsNotEnabled: it cannot (onboarding not started or not complete).
        """
        status = await self.status(account_id)
        if not status.can_receive_payouts:
            raise PayoutsNotEnabled(not_enabled_message(status, what))
        return status

    # --- fees ----------------------------------------------------------------------------------
    async def fee_bps(self, publisher_account_id: str | None) -> int:
        async with self.db.read() as session:
            return await fee_bps_for(
                session, publisher_account_id, self.db.settings.platform_fee_bps
            )

    async def set_fee(
        self, publisher_account_id: str | None, fee_bps: int, *, admin_account_id: str | None
    ) -> FeeSetting:
        """Set the default fee (``publisher_account_id`` None) or one publisher's (audited).

        Applies to checkouts opened from now on; an open checkout keeps the fee it was opened
        with, which is what the provider will charge.

        Raises:
            ValidationError: a fee outside 0..10000 basis points.
            NotFound: no such publisher account.
        """
        if not 0 <= fee_bps <= MAX_FEE_BPS:
            raise ValidationError(f"fee_bps must be 0..{MAX_FEE_BPS} (100%), got {fee_bps}")
        key = publisher_account_id or DEFAULT_FEE_KEY
        async with self.db.write(changes_access=False) as session:
            if publisher_account_id is not None:
                account = await session.get(Account, publisher_account_id)
                if account is None or account.scope != "publisher":
                    raise NotFound(f"no publisher account {publisher_account_id!r}")
            now = utcnow_()
            statement = insert_for(session, PlatformFee).values(
                publisher_account_id=key, fee_bps=fee_bps, updated_by=admin_account_id,
                updated_at=now,
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["publisher_account_id"],
                    set_={"fee_bps": fee_bps, "updated_by": admin_account_id, "updated_at": now},
                )
            )
            audit(
                session,
                "payouts.fee_set",
                account_id=admin_account_id,
                publisher=publisher_account_id or "default",
                fee_bps=fee_bps,
            )
        return FeeSetting(publisher_account_id, fee_bps, admin_account_id, now)

    async def list_fees(self) -> list[FeeSetting]:
        """The default (first; the setting's value when the operator never set one), then
        every per-publisher fee."""
        async with self.db.read() as session:
            rows = list(
                (
                    await session.execute(
                        select(PlatformFee).order_by(PlatformFee.publisher_account_id)
                    )
                ).scalars()
            )
        default = next((r for r in rows if r.publisher_account_id == DEFAULT_FEE_KEY), None)
        fees = [
            FeeSetting(None, default.fee_bps, default.updated_by, as_utc(default.updated_at))
            if default
            else FeeSetting(None, self.db.settings.platform_fee_bps, None, None)
        ]
        fees += [
            FeeSetting(r.publisher_account_id, r.fee_bps, r.updated_by, as_utc(r.updated_at))
            for r in rows
            if r.publisher_account_id != DEFAULT_FEE_KEY
        ]
        return fees

    def _payout_provider(self) -> tuple[PayoutProvider, str]:
        provider = self.provider
        if provider is None or not isinstance(provider, PayoutProvider):
            name = provider.name if provider is not None else "none"
            raise ConfigError(f"billing provider {name!r} pays no publishers")
        return provider, provider.name


def not_enabled_message(status: PayoutStatus, what: str) -> str:
    if not status.onboarding_started:
        state = "has not started payout onboarding (POST /v1/publisher/payouts/onboarding)"
    elif not status.details_submitted:
        state = "has not completed payout onboarding (details not submitted)"
    else:
        state = "cannot receive payouts yet (payouts not enabled by the provider)"
    return f"{what}: its publisher {state}"


async def fee_bps_for(session: AsyncSession, publisher_account_id: str | None, default: int) -> int:
    """The fee that applies to a publisher now: its own, else the operator's default, else
    ``default`` (the setting)."""
    keys = [DEFAULT_FEE_KEY] + ([publisher_account_id] if publisher_account_id else [])
    rows = {
        row.publisher_account_id: row.fee_bps
        for row in (
            await session.execute(
                select(PlatformFee).where(PlatformFee.publisher_account_id.in_(keys))
            )
        ).scalars()
    }
    if publisher_account_id and publisher_account_id in rows:
        return rows[publisher_account_id]
    return rows.get(DEFAULT_FEE_KEY, default)


async def payout_account(session: AsyncSession, account_id: str) -> PayoutAccount | None:
    return await session.get(PayoutAccount, account_id)


async def apply_account_update(
    session: AsyncSession, provider: str, update: PayoutAccountUpdated, event_id: str
) -> str:
    """Record what an ``account.updated`` says, unless an event newer than it was applied."""
    query = select(PayoutAccount).where(
        PayoutAccount.provider == provider, PayoutAccount.account_ref == update.account_ref
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).scalar()
    if row is None:
        return f"ignored: {update.account_ref} is no publisher's connected account"
    last = as_utc(row.changed_at)
    if update.changed_at is not None and last is not None and update.changed_at < last:
        return f"ignored: stale update of {update.account_ref} (one of {last} is applied)"
    row.details_submitted = update.details_submitted
    row.charges_enabled = update.charges_enabled
    row.payouts_enabled = update.payouts_enabled
    if update.changed_at is not None:
        row.changed_at = update.changed_at
    row.updated_at = utcnow_()
    audit(
        session,
        "payouts.account_updated",
        account_id=row.account_id,
        account_ref=update.account_ref,
        details_submitted=update.details_submitted,
        charges_enabled=update.charges_enabled,
        payouts_enabled=update.payouts_enabled,
        event_id=event_id,
    )
    enabled = "enabled" if update.details_submitted and update.payouts_enabled else "not enabled"
    return f"payout account {update.account_ref}: payouts {enabled}"
