"""The ``packdesk`` command line: the root group and the wiring of every command module.

Each area owns its commands in ``api/commands/<area>.py``; plugins add more through the
``packdesk_register_commands`` hook.
"""

from __future__ import annotations

import os
import sys

import click
import pluggy

# Nothing may reach a model hub at run time; set before any Hugging Face import happens.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from api.commands import plugins as plugins_commands  # noqa: E402
from api.context import CliContext  # noqa: E402
from core.errors import PackDeskError  # noqa: E402


@click.group()
@click.version_option(package_name="packdesk")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """PackDesk: a customer-service assistant whose knowledge comes in signed packs."""
    ctx.ensure_object(CliContext)


def build_cli(manager: pluggy.PluginManager | None = None) -> click.Group:
    """Attach the built-in command modules and every plugin's commands to the root group.

    Args:
        manager: the plugin manager whose plugins add commands (default: the entry points').
    """
    for module in _command_modules():
        module.register(cli)
    plugins_commands.register(cli)
    manager = manager or CliContext().plugin_manager()
    manager.hook.packdesk_register_commands(cli=cli)
    return cli


def _command_modules() -> list:
    # Imported lazily so `packdesk --help` does not pay for torch or SQLAlchemy.
    import importlib

    names = ["keys", "pack", "search", "intents", "accounts", "profile", "publisher", "serve"]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"api.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"api.commands.{name}":
                raise
    return modules


def main() -> None:
    """Console-script entry point: domain errors become one clear line and exit status 1."""
    try:
        build_cli()(standalone_mode=False)
    except PackDeskError as exc:
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
