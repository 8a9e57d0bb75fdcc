"""``packdesk publisher fee|statement|reversals``: the operator's side of publisher revenue,
from the shell (the statement's totals against the HTTP API are checked in
test_publisher_revenue.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli import build_cli
from api.context import CliContext
from core.errors import NotFound, ValidationError
from core.settings import Settings


@pytest.fixture
def cli_settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data", billing_provider="local"
    )


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(build_cli(), list(args), obj=CliContext(settings_override=settings))


def new_account(settings: Settings, scope: str) -> str:
    from core.ledger.accounts import AccountService
    from core.ledger.db import create_database
    from core.migrations import migrate

    async def create() -> str:
        db = create_database(settings)
        try:
            await migrate(db)
            account, _ = await AccountService(db).create_account(f"a {scope}", scope)
            return str(account.account_id)
        finally:
            await db.dispose()

    return asyncio.run(create())


def test_fees_are_set_and_shown(cli_settings: Settings) -> None:
    publisher = new_account(cli_settings, "publisher")
    assert run(cli_settings, "publisher", "fee", "show").output == "default: 2000 bps (20%)\n"
    assert run(cli_settings, "publisher", "fee", "set", "1500").exit_code == 0
    done = run(cli_settings, "publisher", "fee", "set", "750", "--publisher", publisher)
    assert done.output == f"{publisher}: 750 bps (7.5%)\n"
    shown = run(cli_settings, "publisher", "fee", "show").output.splitlines()
    assert shown == ["default: 1500 bps (15%)", f"{publisher}: 750 bps (7.5%)"]


@pytest.mark.parametrize(
    "args,error",
    [
        (("fee", "set", "10001"), ValidationError),
        (("fee", "set", "--", "-5"), ValidationError),
        (("fee", "set", "100", "--publisher", "acc_nobody"), NotFound),
        (("statement", "acc_nobody", "--month", "2026-11"), NotFound),
        (("statement", "CUSTOMER", "--month", "2026-11"), NotFound),
        (("statement", "PUBLISHER", "--month", "2026-13"), ValidationError),
        (("statement", "PUBLISHER", "--month", "November"), ValidationError),
    ],
)
def test_refusals(cli_settings: Settings, args: tuple[str, ...], error: type) -> None:
    names = {"CUSTOMER": new_account(cli_settings, "customer"),
             "PUBLISHER": new_account(cli_settings, "publisher")}
    result = run(cli_settings, "publisher", *(names.get(a, a) for a in args))
    assert isinstance(result.exception, error), result.output
    assert run(cli_settings, "publisher", "fee", "show").output == "default: 2000 bps (20%)\n"


def test_an_empty_statement_and_no_pending_reversals(cli_settings: Settings, tmp_path) -> None:
    publisher = new_account(cli_settings, "publisher")
    summary = run(cli_settings, "publisher", "statement", publisher, "--month", "2026-02")
    assert summary.exit_code == 0 and "no earnings in this period" in summary.output
    out = tmp_path / "statement.csv"
    written = run(cli_settings, "publisher", "statement", publisher, "--month", "2026-02",
                  "--csv", "--out", str(out))
    assert written.exit_code == 0, written.output
    assert out.read_text().startswith("occurred_at,kind,pack_id,currency,gross,fee,net")
    reversals = run(cli_settings, "publisher", "reversals")
    assert reversals.exit_code == 0 and reversals.output.endswith("0 pending reversal(s) tried\n")
