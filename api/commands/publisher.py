"""``packdesk publisher statement|fee|reversals``: publisher revenue from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from api.commands.accounts import _with_database
from api.context import CliContext


@click.group("publisher")
def publisher_group() -> None:
    """Publishers' earnings statements, the platform fee and transfer reversals."""


@publisher_group.command("statement")
@click.argument("publisher")
@click.option("--month", required=True, help="The month, YYYY-MM (UTC).")
@click.option("--csv", "as_csv", is_flag=True, help="Write the rows and totals as CSV.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def statement(obj: CliContext, publisher: str, month: str, as_csv: bool, out: Path | None) -> None:
    """The statement of PUBLISHER (its account id) for one month: every sale, renewal, refund
    and lost dispute, and the totals (gross, platform fee, net; minor units)."""
    from core.errors import NotFound
    from core.ledger.accounts import AccountService
    from core.ledger.statements import EarningsService, month_bounds, statement_csv

    start, end = month_bounds(month)

    async def work(db: Any) -> tuple[Any, list[Any]]:
        account = await AccountService(db).get_account(publisher)
        if account.scope != "publisher":
            raise NotFound(f"account {publisher} is not a publisher")
        earnings = EarningsService(db)
        return (
            await earnings.statement(publisher, start, end),
            await earnings.entries(publisher, start, end),
        )

    result, rows = _with_database(obj, work)
    text = statement_csv(result, rows) if as_csv else _summary(result)
    if out is not None:
        out.write_text(text)
        click.echo(f"wrote {out} ({len(rows)} rows)", err=True)
    else:
        click.echo(text, nl=False)


def _summary(result: Any) -> str:
    lines = [f"publisher {result.publisher_account_id}, {result.start} to {result.end}"]
    if not result.totals:
        lines.append("no earnings in this period")
    for pack_id, totals in result.per_pack:
        lines.append(
            f"  {pack_id:<24} {totals.currency} sold {totals.sold} returned {totals.returned} "
            f"fee {totals.fee} net {totals.net}"
        )
    for totals in result.totals:
        lines.append(
            f"TOTAL {totals.currency}: gross {totals.gross} fee {totals.fee} net {totals.net}"
        )
    return "\n".join(lines) + "\n"


@publisher_group.group("fee")
def fee_group() -> None:
    """Show or set the platform fee (basis points: 2000 = 20%)."""


@fee_group.command("show")
@click.pass_obj
def show_fees(obj: CliContext) -> None:
    """The default fee, then every publisher's own."""
    from core.ledger.payouts import PayoutService

    async def work(db: Any) -> list[Any]:
        return await PayoutService(db).list_fees()

    for fee in _with_database(obj, work):
        who = fee.publisher_account_id or "default"
        click.echo(f"{who}: {fee.fee_bps} bps ({fee.fee_bps / 100:g}%)")


@fee_group.command("set")
@click.argument("fee_bps", type=int)
@click.option("--publisher", help="A publisher's account id; without it, the default fee.")
@click.pass_obj
def set_fee(obj: CliContext, fee_bps: int, publisher: str | None) -> None:
    """Set FEE_BPS (0..10000) as the default or one publisher's fee, for checkouts opened from
    now on (audited)."""
    from core.ledger.payouts import PayoutService

    async def work(db: Any) -> Any:
        return await PayoutService(db).set_fee(
            publisher, fee_bps, admin_account_id=None
        )

    fee = _with_database(obj, work)
    click.echo(f"{publisher or 'default'}: {fee.fee_bps} bps ({fee.fee_bps / 100:g}%)")


@publisher_group.command("reversals")
@click.pass_obj
def settle_reversals(obj: CliContext) -> None:
    """Retry the transfer reversals still pending (a provider call that failed when its refund
    or dispute was applied)."""
    from api.services import choose_billing_provider
    from core.ledger.catalog import CatalogService
    from core.ledger.entitlements import EntitlementService
    from core.ledger.fulfilment import BillingService

    provider = choose_billing_provider(obj.settings, obj.plugin_manager())

    async def work(db: Any) -> list[str]:
        catalog = CatalogService(db)
        billing = BillingService(
            db, provider, catalog=catalog, entitlements=EntitlementService(db, catalog=catalog)
        )
        return await billing.settle_reversals()

    done = _with_database(obj, work)
    for line in done:
        click.echo(line)
    click.echo(f"{len(done)} pending reversal(s) tried")


def register(cli: click.Group) -> None:
    cli.add_command(publisher_group)
