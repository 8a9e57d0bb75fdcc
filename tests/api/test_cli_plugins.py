"""``packdesk plugins list`` and plugin-contributed commands, through click's CliRunner."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import build_cli


def test_plugins_list_shows_builtin_packs_with_hook_and_version() -> None:
    result = CliRunner().invoke(build_cli(), ["plugins", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "builtin_packs" in rows
    assert "0.1.0" in rows["builtin_packs"]
    assert "packdesk_pack_sources" in rows["builtin_packs"]


@pytest.fixture
def command_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed third-party distribution whose plugin adds a ``packdesk greet`` command."""
    (tmp_path / "packdesk_greeter.py").write_text(
        textwrap.dedent(
            """
            import click
            from core import hookimpl

            @click.command("greet")
            @click.argument("who")
            def greet(who):
                click.echo(f"hello {who} from a plugin")

            @hookimpl
            def packdesk_register_commands(cli):
                cli.add_command(greet)
            """
        ),
        encoding="utf-8",
    )
    dist = tmp_path / "packdesk_greeter-0.9.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: packdesk-greeter\nVersion: 0.9.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text("[packdesk]\ngreeter = packdesk_greeter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield "greet"
    # build_cli() adds to the module-level root group: leave it as other tests expect it.
    from api.cli import cli

    cli.commands.pop("greet", None)
    sys.modules.pop("packdesk_greeter", None)


def test_plugin_registers_a_command_and_is_listed(command_plugin: str) -> None:
    root = build_cli()
    ran = CliRunner().invoke(root, [command_plugin, "Ada"])
    assert ran.exit_code == 0, ran.output
    assert ran.output == "hello Ada from a plugin\n"
    listed = CliRunner().invoke(root, ["plugins", "list"], terminal_width=200)
    [row] = [line for line in listed.output.splitlines() if "greeter" in line]
    assert "0.9.0" in row and "packdesk_register_commands" in row
