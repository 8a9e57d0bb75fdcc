"""``packdesk plugins``: inspect registered plugins."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from api.context import CliContext
from core.plugin_manager import describe_plugins


@click.group("plugins")
def plugins_group() -> None:
    """Inspect plugins registered through the `packdesk` entry points."""


@plugins_group.command("list")
@click.pass_obj
def list_plugins(obj: CliContext) -> None:
    """Print each registered plugin with its version and hooks."""
    table = Table("plugin", "version", "hooks")
    for row in describe_plugins(obj.plugin_manager()):
        table.add_row(row["name"], row["version"], ", ".join(row["hooks"]))
    Console().print(table)


def register(cli: click.Group) -> None:
    cli.add_command(plugins_group)
