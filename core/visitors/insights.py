"""Missed demand and what visitors ask, per period, for one business (``GET /v1/insights``).

Counts come from ``visitor_questions``: how many visitor questions needed each pack the
business does not own (with a few of those questions, redacted), how many were handed off to a
person, and the busiest intents. Periods are calendar days, ISO weeks (from Monday) or months,
in UTC, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.conversations.models import DataDeletion
from core.errors import DecryptionError, ValidationError
from core.ledger.common import as_utc
from core.ledger.db import Database
from core.ledger.models import utcnow
from core.privacy import TextCipher
from core.visitors.models import VisitorQuestion

Period = Literal["day", "week", "month"]
MAX_PERIODS = 12
EXAMPLES_PER_PACK = 3
TOP_INTENTS = 5


@dataclass(frozen=True)
class MissedPack:
    pack_id: str
    questions: int
    examples: list[str]


@dataclass(frozen=True)
class IntentCount:
    label: str
    questions: int


@dataclass(frozen=True)
class PeriodInsights:
    start: datetime
    end: datetime
    questions: int = 0
    handoffs: int = 0
    missed: list[MissedPack] = field(default_factory=list)
    top_intents: list[IntentCount] = field(default_factory=list)


def period_starts(period: Period, periods: int, now: datetime) -> list[tuple[datetime, datetime]]:
    """``periods`` (start, end) pairs, the current period first."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        current = day
    elif period == "week":
        current = day - timedelta(days=day.weekday())
    else:
        current = day.replace(day=1)
    bounds: list[tuple[datetime, datetime]] = []
    end = _next(current, period)
    start = current
    for _ in range(periods):
        bounds.append((start, end))
        end, start = start, _previous(start, period)
    return bounds


def _next(start: datetime, period: Period) -> datetime:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous(start: datetime, period: Period) -> datetime:
    if period == "day":
        return start - timedelta(days=1)
    if period == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


class InsightsService:
    def __init__(self, db: Database, cipher: TextCipher, *, retention_days: int = 30) -> None:
        self._db = db
        self._cipher = cipher
        self._retention = timedelta(days=retention_days)

    async def insights(
        self,
        account_id: str,
        *,
        period: Period = "week",
        periods: int = 4,
        now: datetime | None = None,
    ) -> list[PeriodInsights]:
        """One :class:`PeriodInsights` per period, newest first.

        Raises:
            ValidationError: ``periods`` outside 1..12 or an unknown ``period``.
        """
        if period not in ("day", "week", "month"):
            raise ValidationError(f"period must be day, week or month, got {period!r}")
        if not 1 <= periods <= MAX_PERIODS:
            raise ValidationError(f"periods must be 1 to {MAX_PERIODS}, got {periods}")
        now = now or utcnow()
        bounds = period_starts(period, periods, now)
        async with self._db.read() as session:
            # Examples follow the conversation rules: none past retention, none from before the
            # account's last DELETE /v1/me/data (VisitorService erases those at its next write).
            shown_since = now - self._retention
            deleted_at = as_utc(
                await session.scalar(
                    select(DataDeletion.deleted_at).where(DataDeletion.account_id == account_id)
                )
            )
            if deleted_at is not None:
                shown_since = max(shown_since, deleted_at)
            return [
                await self._period(session, account_id, start, end, shown_since)
                for start, end in bounds
            ]

    async def _period(
        self,
        session: AsyncSession,
        account_id: str,
        start: datetime,
        end: datetime,
        shown_since: datetime,
    ) -> PeriodInsights:
        q = VisitorQuestion
        window = (q.account_id == account_id, q.asked_at >= start, q.asked_at < end)
        total, handoffs = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(case((q.handoff, 1), else_=0)), 0))
                .select_from(q)
                .where(*window)
            )
        ).one()
        if not total:
            return PeriodInsights(start=start, end=end)
        missed_rows = (
            await session.execute(
                select(q.missed_pack_id, func.count())
                .where(*window, q.missed_pack_id.is_not(None))
                .group_by(q.missed_pack_id)
                .order_by(func.count().desc(), q.missed_pack_id)
            )
        ).all()
        missed = []
        for pack_id, count in missed_rows:
            tokens = await session.scalars(
                select(q.example_token)
                .where(
                    *window,
                    q.missed_pack_id == pack_id,
                    q.example_token.is_not(None),
                    q.asked_at >= shown_since,
                )
                .order_by(q.asked_at.desc())
                .limit(EXAMPLES_PER_PACK)
            )
            missed.append(
                MissedPack(pack_id=str(pack_id), questions=count, examples=self._examples(tokens))
            )
        intents = (
            await session.execute(
                select(q.intent_label, func.count())
                .where(*window)
                .group_by(q.intent_label)
                .order_by(func.count().desc(), q.intent_label)
                .limit(TOP_INTENTS)
            )
        ).all()
        return PeriodInsights(
            start=start,
            end=end,
            questions=int(total),
            handoffs=int(handoffs),
            missed=missed,
            top_intents=[IntentCount(label=label, questions=n) for label, n in intents],
        )

    def _examples(self, tokens: Iterable[str | None]) -> list[str]:
        examples = []
        for token in tokens:
            if token is None:
                continue
            try:
                examples.append(self._cipher.decrypt(token))
            except DecryptionError:
                # A key dropped after rotation: the count stays true, the example is gone.
                continue
        return examples
