"""``packdesk keys``: Ed25519 signing keys for pack publishers."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from api.context import CliContext
from core.packs.signing import (
    generate_keypair,
    key_id_of,
    load_private_key,
    prove_key_possession,
    public_key_from_pem_or_raw,
    public_key_pem,
)


@click.group("keys")
def keys_group() -> None:
    """Generate, prove and trust Ed25519 pack-signing keys."""


@keys_group.command("generate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for <name>.key (private, mode 0600) and <name>.pub.",
)
@click.option("--name", default="packdesk", show_default=True, help="Base name of the files.")
def generate(out_dir: Path, name: str) -> None:
    """Write a new key pair; never overwrites existing key files."""
    private_path, public_path, key_id = generate_keypair(out_dir, name)
    click.echo(f"private key: {private_path}")
    click.echo(f"public key:  {public_path}")
    click.echo(f"key id:      {key_id}")


@keys_group.command("trust")
@click.argument("public_key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_obj
def trust(obj: CliContext, public_key: Path) -> None:
    """Add a publisher's public key to this installation's trust store (<data_dir>/trust)."""
    key = public_key_from_pem_or_raw(public_key.read_bytes())
    key_id = key_id_of(key)
    trust_dir = obj.settings.trust_dir
    trust_dir.mkdir(parents=True, exist_ok=True)
    target = trust_dir / f"{key_id}.pub"
    if public_key.resolve() != target.resolve():
        tmp = target.with_suffix(".pub.tmp")
        tmp.write_bytes(public_key_pem(key))
        shutil.move(tmp, target)
    click.echo(f"trusted key {key_id} ({target})")


@keys_group.command("prove")
@click.option(
    "--key",
    "private_key",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The private key (<name>.key) of the public key to register.",
)
@click.option(
    "--account",
    "account_id",
    required=True,
    help="The publisher account id (acc_...) that registers the key.",
)
def prove(private_key: Path, account_id: str) -> None:
    """Print the proof of possession that POST /v1/publisher/keys needs as "signature"."""
    click.echo(prove_key_possession(load_private_key(private_key), account_id.strip()))


def register(cli: click.Group) -> None:
    cli.add_command(keys_group)
