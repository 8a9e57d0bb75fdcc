"""Publishers' statements: the earnings ledger summed per currency, pack and month, and as CSV.

Reads only; the rows are written by :mod:`core.ledger.earnings`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationError
from core.ledger.common import as_utc, dialect_name
from core.ledger.db import Database
from core.ledger.earnings import INCOME_KINDS
from core.ledger.models import EarningsEntry

MAX_STATEMENT_DAYS = 366  # a statement reads one publisher's rows of at most this many days


@dataclass(frozen=True)
class Totals:
    """Sums of one group of rows, in minor units of ``currency``."""

    currency: str
    sold: int  # gross of sales and renewals
    returned: int  # gross of refunds and lost disputes (a positive number)
    gross: int  # sold - returned
    fee: int
    net: int
    sales: int  # how many sale and renewal rows
    returns: int


@dataclass
class _Sum:
    sold: int = 0
    returned: int = 0
    gross: int = 0
    fee: int = 0
    net: int = 0
    sales: int = 0
    returns: int = 0

    def add(self, kind: str, gross: int, fee: int, net: int, count: int) -> None:
        if kind in INCOME_KINDS:
            self.sold += gross
            self.sales += count
        else:
            self.returned -= gross
            self.returns += count
        self.gross += gross
        self.fee += fee
        self.net += net

    def totals(self, currency: str) -> Totals:
        return Totals(
            currency, self.sold, self.returned, self.gross, self.fee, self.net, self.sales,
            self.returns,
        )


@dataclass(frozen=True)
class Statement:
    """A publisher's earnings between two days (inclusive, UTC)."""

    publisher_account_id: str
    start: date
    end: date
    totals: list[Totals]  # per currency
    per_pack: list[tuple[str, Totals]]  # (pack_id, totals), by pack then currency
    per_month: list[tuple[str, Totals]]  # ("YYYY-MM", totals), by month then currency
    entries: int = field(default=0)


def check_period(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants [start 00:00, the day after end 00:00) of a statement period.

    Raises:
        ValidationError: ``end`` before ``start``, or a period over 366 days.
    """
    if end < start:
        raise ValidationError(f"'to' ({end}) is before 'from' ({start})")
    if (end - start).days + 1 > MAX_STATEMENT_DAYS:
        raise ValidationError(
            f"a statement covers at most {MAX_STATEMENT_DAYS} days; {start}..{end} is "
            f"{(end - start).days + 1}"
        )
    return (
        datetime.combine(start, time.min, UTC),
        datetime.combine(end + timedelta(days=1), time.min, UTC),
    )


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``.

    Raises:
        ValidationError: not a month in that form.
    """
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError as exc:
        raise ValidationError(f"month must be YYYY-MM, got {month!r}") from exc
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


class EarningsService:
    """Reads the earnings ledger: statements and their rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def statement(self, publisher_account_id: str, start: date, end: date) -> Statement:
        """Totals per currency, per pack and per month of one publisher's rows in the period.

        Raises:
            ValidationError: a bad period (:func:`check_period`).
        """
        since, until = check_period(start, end)
        async with self.db.read() as session:
            month = _month_expression(session)
            rows = await session.execute(
                select(
                    EarningsEntry.pack_id,
                    EarningsEntry.currency,
                    EarningsEntry.kind,
                    month,
                    func.sum(EarningsEntry.gross),
                    func.sum(EarningsEntry.fee),
                    func.sum(EarningsEntry.net),
                    func.count(),
                )
                .where(
                    EarningsEntry.publisher_account_id == publisher_account_id,
                    EarningsEntry.occurred_at >= since,
                    EarningsEntry.occurred_at < until,
                )
                .group_by(EarningsEntry.pack_id, EarningsEntry.currency, EarningsEntry.kind, month)
            )
            groups = [tuple(row) for row in rows]
        by_currency: dict[str, _Sum] = {}
        by_pack: dict[tuple[str, str], _Sum] = {}
        by_month: dict[tuple[str, str], _Sum] = {}
        entries = 0
        for pack_id, currency, kind, month_key, gross, fee, net, count in groups:
            values = (kind, int(gross), int(fee), int(net), int(count))
            by_currency.setdefault(currency, _Sum()).add(*values)
            by_pack.setdefault((pack_id, currency), _Sum()).add(*values)
            by_month.setdefault((str(month_key), currency), _Sum()).add(*values)
            entries += int(count)
        return Statement(
            publisher_account_id=publisher_account_id,
            start=start,
            end=end,
            totals=[by_currency[c].totals(c) for c in sorted(by_currency)],
            per_pack=[(p, by_pack[(p, c)].totals(c)) for p, c in sorted(by_pack)],
            per_month=[(m, by_month[(m, c)].totals(c)) for m, c in sorted(by_month)],
            entries=entries,
        )

    async def entries(
        self, publisher_account_id: str, start: date, end: date
    ) -> list[EarningsEntry]:
        """The rows of a statement, oldest first."""
        since, until = check_period(start, end)
        async with self.db.read() as session:
            return list(
                (
                    await session.execute(
                        select(EarningsEntry)
                        .where(
                            EarningsEntry.publisher_account_id == publisher_account_id,
                            EarningsEntry.occurred_at >= since,
                            EarningsEntry.occurred_at < until,
                        )
                        .order_by(EarningsEntry.occurred_at, EarningsEntry.entry_id)
                    )
                ).scalars()
            )


def _month_expression(session: AsyncSession) -> Any:
    if dialect_name(session) == "postgresql":
        return func.to_char(
            func.timezone("UTC", EarningsEntry.occurred_at), literal_column("'YYYY-MM'")
        )
    return func.strftime("%Y-%m", EarningsEntry.occurred_at)


CSV_COLUMNS = (
    "occurred_at", "kind", "pack_id", "currency", "gross", "fee", "net", "payment_ref",
    "invoice_ref", "charge_ref", "transfer_ref", "event_id",
)


def statement_csv(statement: Statement, rows: Iterable[EarningsEntry]) -> str:
    """A statement as CSV: one line per row (amounts in minor units), then one ``TOTAL`` line
    per currency whose sums are the statement's."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        occurred = as_utc(row.occurred_at)
        writer.writerow(
            [
                occurred.isoformat() if occurred else "",
                row.kind, row.pack_id, row.currency, row.gross, row.fee, row.net,
                row.payment_ref or "", row.invoice_ref or "", row.charge_ref or "",
                row.transfer_ref or "", row.event_id,
            ]
        )
    for total in statement.totals:
        writer.writerow(
            ["TOTAL", "", "", total.currency, total.gross, total.fee, total.net, "", "", "", "", ""]
        )
    return out.getvalue()
