"""``packdesk profile show|set ACCOUNT_ID``: a customer's business profile, from the shell."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError as PydanticValidationError

from api.commands.accounts import _with_database
from api.context import CliContext
from core.errors import ValidationError

FIELDS = ("business_name", "website", "support_email", "support_phone", "support_hours",
          "live_chat")


@click.group("profile")
def profile_group() -> None:
    """Show or change a customer's business profile (what reply templates say about it)."""


@profile_group.command("show")
@click.argument("account_id")
@click.pass_obj
def show_profile(obj: CliContext, account_id: str) -> None:
    """Print the account's profile, one field per line (unset fields say so)."""
    from core.ledger.accounts import AccountService
    from core.ledger.profiles import ProfileService

    async def work(db: Any) -> Any:
        await AccountService(db).get_account(account_id)  # NotFound for an unknown account
        return await ProfileService(db).get(account_id)

    profile = _with_database(obj, work)
    for name in FIELDS:
        value = getattr(profile, name)
        click.echo(f"{name}: {value if value is not None else '(not set)'}")


@profile_group.command("set")
@click.argument("account_id")
@click.option("--business-name")
@click.option("--website", help="Shown where templates say {{Website Name}}.")
@click.option("--support-email")
@click.option("--support-phone")
@click.option("--support-hours", help='e.g. "Monday to Friday, 9:00 to 17:00"')
@click.option("--live-chat", help='e.g. "live chat at example.com/help"')
@click.option("--clear", "cleared", multiple=True, type=click.Choice(FIELDS),
              help="Remove a field (repeatable).")
@click.pass_obj
def set_profile(
    obj: CliContext, account_id: str, cleared: tuple[str, ...], **given: str | None
) -> None:
    """Change the given fields of the account's profile; the others keep their values."""
    from core.ledger.accounts import AccountService
    from core.ledger.profiles import BusinessProfile, ProfileService

    async def work(db: Any) -> Any:
        await AccountService(db).get_account(account_id)
        profiles = ProfileService(db)
        current = (await profiles.get(account_id)).model_dump()
        current.update({name: value for name, value in given.items() if value is not None})
        current.update({name: None for name in cleared})
        try:
            profile = BusinessProfile.model_validate(current)
        except PydanticValidationError as exc:
            raise ValidationError(_first_error(exc)) from exc
        return await profiles.replace(account_id, profile)

    profile = _with_database(obj, work)
    click.echo(f"profile of {account_id} updated: "
               + ", ".join(f"{n}={getattr(profile, n)!r}" for n in FIELDS if getattr(profile, n)))


def _first_error(exc: PydanticValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def register(cli: click.Group) -> None:
    cli.add_command(profile_group)
