"""``packdesk accounts create`` and ``packdesk keys revoke``: ledger administration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from api.context import CliContext

T = TypeVar("T")


def _with_database(obj: CliContext, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the ledger (migrating it to the newest schema), run ``work(db)``, close it."""
    from core.ledger.db import create_database
    from core.migrations import migrate

    async def run() -> T:
        db = create_database(obj.settings)
        try:
            await migrate(db)
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@click.group("accounts")
def accounts_group() -> None:
    """Manage accounts (customers, publishers, admins) in the ledger."""


@accounts_group.command("create")
@click.option("--name", required=True, help="Display name of the account.")
@click.option(
    "--scope",
    type=click.Choice(["customer", "publisher", "admin"]),
    default="customer",
    show_default=True,
    help="What the account's API keys may do.",
)
@click.pass_obj
def create_account(obj: CliContext, name: str, scope: str) -> None:
    """Create an account and print its API key (shown only this once)."""
    from core.ledger.accounts import AccountService

    async def work(db: Any) -> tuple[Any, str]:
        return await AccountService(db).create_account(name, scope)

    account, api_key = _with_database(obj, work)
    click.echo(f"account: {account.account_id}  name: {account.name}  scope: {account.scope}")
    click.echo(f"api key (shown once, store it now): {api_key}")


@click.command("revoke")
@click.argument("prefix")
@click.pass_obj
def revoke_key(obj: CliContext, prefix: str) -> None:
    """Revoke the API key whose visible prefix is PREFIX (the part after ``pd_``)."""
    from core.ledger.accounts import AccountService

    # Accept a whole key or "pd_<prefix>" too: people paste what they have.
    if prefix.startswith("pd_"):
        prefix = prefix.split("_")[1]

    async def work(db: Any) -> None:
        await AccountService(db).revoke_key(prefix)

    _with_database(obj, work)
    click.echo(f"revoked API key {prefix}")


def register(cli: click.Group) -> None:
    cli.add_command(accounts_group)
    keys = cli.commands.get("keys")
    if isinstance(keys, click.Group):
        keys.add_command(revoke_key)
    else:
        # The keys module is missing: still offer the command under its own group.
        group = click.Group("keys", help="Manage keys.")
        group.add_command(revoke_key)
        cli.add_command(group)
