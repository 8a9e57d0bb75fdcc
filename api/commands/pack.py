"""``packdesk pack``: build, verify, inspect, install and list signed packs."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from api.context import CliContext
from core.errors import ManifestInvalid
from core.packs.archive import scan_archive
from core.packs.builder import build_pack
from core.packs.manifest import MANIFEST_FILE, SIGNATURE_FILE, Manifest, Pricing, parse_manifest
from core.packs.signing import TrustStore, parse_signature
from core.packs.store import PackStore
from core.packs.verify import verify_pack

_existing_file = click.Path(dir_okay=False, exists=True, path_type=Path)
_trust_option = click.option(
    "--trust",
    "trust_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A public key file or a directory of .pub files [default: <data_dir>/trust].",
)


@click.group("pack")
def pack_group() -> None:
    """Build, verify, inspect and install knowledge packs (.kpack)."""


@pack_group.command("build")
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_path", required=True, type=_existing_file, help="Private key (PEM).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-index", is_flag=True, help="Skip building the search index (index/).")
@click.pass_obj
def build(obj: CliContext, source: Path, key_path: Path, out_path: Path, no_index: bool) -> None:
    """Build SOURCE (an authored pack directory) into a signed .kpack."""
    index_builder = None
    if not no_index:
        from api.wiring import pack_index_builder  # heavy: embedder and index backend

        index_builder = pack_index_builder(obj.settings, obj.plugin_manager())
    manifest = build_pack(
        source, private_key_path=key_path, out_path=out_path, index_builder=index_builder
    )
    click.echo(
        f"built {out_path}: {manifest.id} {manifest.version}, {len(manifest.files)} files signed"
    )


@pack_group.command("verify")
@click.argument("archive", type=_existing_file)
@_trust_option
@click.pass_obj
def verify(obj: CliContext, archive: Path, trust_path: Path | None) -> None:
    """Verify ARCHIVE's signature and every file checksum; exit 0 only when valid."""
    trust = TrustStore.load(trust_path or obj.settings.trust_dir)
    verified = verify_pack(archive, trust, obj.settings.archive_limits)
    manifest = verified.manifest
    click.echo(
        f"valid: {manifest.id} {manifest.version} signed by key {verified.key_id}, "
        f"{len(verified.files)} files verified"
    )


@pack_group.command("inspect")
@click.argument("archive", type=_existing_file)
@click.pass_obj
def inspect(obj: CliContext, archive: Path) -> None:
    """Print ARCHIVE's manifest summary and file table (does not verify the signature)."""
    contents = scan_archive(
        archive,
        obj.settings.archive_limits,
        keep=lambda name: name in (MANIFEST_FILE, SIGNATURE_FILE),
    )
    if MANIFEST_FILE not in contents.kept:
        raise ManifestInvalid(f"{archive.name}: no {MANIFEST_FILE}")
    manifest = parse_manifest(contents.kept[MANIFEST_FILE], source=f"{archive.name}/manifest")
    signer = "none (unsigned)"
    if SIGNATURE_FILE in contents.kept:
        document = json.loads(contents.kept[SIGNATURE_FILE])
        key_id, _ = parse_signature(document, source=f"{archive.name}/{SIGNATURE_FILE}")
        signer = f"{key_id} (not verified here; use `packdesk pack verify`)"
    console = _console()
    console.print(_summary(manifest, signer))
    files = Table("file", "size", "sha256", "manifest", title="files")
    for name, entry in sorted(contents.entries.items()):
        if name in (MANIFEST_FILE, SIGNATURE_FILE):
            status = "-"
        elif name not in manifest.files:
            status = "NOT LISTED"
        else:
            status = "ok" if manifest.files[name] == entry.sha256 else "CHANGED"
        files.add_row(name, f"{entry.size:,}", entry.sha256, status)
    for name in sorted(set(manifest.files) - set(contents.entries)):
        files.add_row(name, "-", manifest.files[name], "MISSING")
    console.print(files)


@pack_group.command("install")
@click.argument("archive", type=_existing_file)
@_trust_option
@click.pass_obj
def install(obj: CliContext, archive: Path, trust_path: Path | None) -> None:
    """Verify ARCHIVE and install it into <data_dir>/packs atomically."""
    trust = TrustStore.load(trust_path) if trust_path else None
    installed = PackStore(obj.settings, trust=trust).install(archive)
    click.echo(
        f"installed {installed.manifest.id} {installed.manifest.version} "
        f"(key {installed.key_id}) at {installed.root}"
    )


@pack_group.command("list")
@click.pass_obj
def list_packs(obj: CliContext) -> None:
    """List installed packs (latest version of each, verified)."""
    table = Table("id", "name", "version", "domain", "pricing", "key id")
    for pack in PackStore(obj.settings).installed():
        m = pack.manifest
        table.add_row(m.id, m.name, m.version, m.domain, _pricing(m.pricing), pack.key_id)
    _console().print(table)


def _summary(manifest: Manifest, signer: str) -> Table:
    table = Table("field", "value", title=f"pack {manifest.id}", show_header=False)
    model = manifest.embedding_model
    rows = [
        ("id", manifest.id),
        ("name", manifest.name),
        ("version", manifest.version),
        ("domain", manifest.domain),
        ("language", manifest.language),
        ("pricing", _pricing(manifest.pricing)),
        ("publisher", manifest.publisher),
        ("license", manifest.license),
        ("attribution", manifest.attribution),
        ("embedding model", f"{model.id} ({model.dimension} dimensions)"),
        ("intents", str(len(manifest.intents))),
        ("disclaimer", manifest.disclaimer or "-"),
        ("min packdesk", manifest.min_packdesk_version),
        ("files listed", str(len(manifest.files))),
        ("signed by", signer),
    ]
    for field, value in rows:
        table.add_row(field, value)
    return table


def _pricing(pricing: Pricing) -> str:
    if pricing.is_free:
        return "free"
    period = "one-time" if pricing.model == "one_time" else "per month"
    return f"{pricing.amount / 100:.2f} {pricing.currency.upper()} {period}"


def _console() -> Console:
    console = Console()
    # Piped output (and CliRunner) defaults to 80 columns, which would fold the hashes.
    return console if console.is_terminal else Console(width=220)


def register(cli: click.Group) -> None:
    cli.add_command(pack_group)
