"""``packdesk keys`` and ``packdesk pack`` through click's CliRunner and the real binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from api.cli import build_cli
from api.context import CliContext
from core.errors import ChecksumMismatch, SignatureMissing, UnknownSigningKey
from core.settings import Settings
from tests.core.packs.helpers import flip_byte, rewrite_archive, write_pack_source


@pytest.fixture(scope="module")
def root() -> click.Group:
    return build_cli()


@pytest.fixture
def run(root: click.Group, settings: Settings):  # type: ignore[no-untyped-def]
    def invoke(*args: str | Path) -> Result:
        obj = CliContext(settings_override=settings)
        return CliRunner().invoke(root, [str(a) for a in args], obj=obj)

    return invoke


@pytest.fixture
def published(run, tmp_path: Path) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """A key pair made with `keys generate` and a pack built with `pack build --no-index`."""
    result = run("keys", "generate", "--out", tmp_path / "keys", "--name", "pub")
    assert result.exit_code == 0, result.output
    source = write_pack_source(tmp_path / "src")
    kpack = tmp_path / "demo.kpack"
    result = run(
        "pack", "build", source, "--key", tmp_path / "keys/pub.key", "--out", kpack, "--no-index"
    )
    assert result.exit_code == 0, result.output
    assert "demo-pack 1.0.0" in result.output
    return kpack, tmp_path / "keys/pub.pub"


def key_id(public: Path) -> str:
    from core.packs.signing import TrustStore

    return TrustStore.load(public).key_ids()[0]


def test_keys_generate_prints_paths_and_id(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("keys", "generate", "--out", tmp_path / "k")
    assert result.exit_code == 0
    assert f"key id:      {key_id(tmp_path / 'k/packdesk.pub')}" in result.output
    again = run("keys", "generate", "--out", tmp_path / "k")
    assert again.exit_code == 1 and "already exists" in str(again.exception)


def test_verify_passes_and_prints_key_id(run, published) -> None:  # type: ignore[no-untyped-def]
    kpack, public = published
    result = run("pack", "verify", kpack, "--trust", public)
    assert result.exit_code == 0, result.output
    assert f"signed by key {key_id(public)}" in result.output


def test_verify_fails_on_one_changed_byte(run, published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kpack, public = published

    def flip(files: dict[str, bytes]) -> None:
        files["LICENSE"] = flip_byte(files["LICENSE"])

    tampered = rewrite_archive(kpack, tmp_path / "tampered.kpack", flip)
    result = run("pack", "verify", tampered, "--trust", public)
    assert result.exit_code == 1
    assert isinstance(result.exception, ChecksumMismatch)
    raw = tmp_path / "raw.kpack"
    data = bytearray(kpack.read_bytes())
    data[len(data) // 2] ^= 0x01
    raw.write_bytes(bytes(data))
    assert run("pack", "verify", raw, "--trust", public).exit_code == 1


def test_verify_fails_for_unknown_key_and_missing_signature(run, published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kpack, _ = published
    run("keys", "generate", "--out", tmp_path / "other")
    result = run("pack", "verify", kpack, "--trust", tmp_path / "other")
    assert result.exit_code == 1 and isinstance(result.exception, UnknownSigningKey)
    unsigned = rewrite_archive(kpack, tmp_path / "u.kpack", lambda f: f.pop("signature.json"))
    result = run("pack", "verify", unsigned, "--trust", published[1])
    assert result.exit_code == 1 and isinstance(result.exception, SignatureMissing)


def test_inspect_prints_summary_and_file_table(run, published) -> None:  # type: ignore[no-untyped-def]
    kpack, public = published
    result = run("pack", "inspect", kpack)
    assert result.exit_code == 0, result.output
    for expected in (
        "demo-pack",
        "Demo Pack",
        "1.0.0",
        "finance",
        "19.00 USD one-time",
        "Test Publisher",
        "CC0-1.0",
        "Not financial advice.",
        key_id(public),
    ):
        assert expected in result.output
    import hashlib

    license_hash = hashlib.sha256(b"CC0 1.0 Universal\n").hexdigest()
    assert any("LICENSE" in line and license_hash in line for line in result.output.splitlines())


def test_install_and_list(run, published, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    kpack, public = published
    assert run("pack", "install", kpack).exit_code == 1  # nothing trusted yet
    assert list(settings.packs_dir.iterdir()) == []
    assert run("keys", "trust", public).exit_code == 0
    result = run("pack", "install", kpack)
    assert result.exit_code == 0, result.output
    assert (settings.packs_dir / "demo-pack" / "1.0.0" / "manifest.json").is_file()
    listing = run("pack", "list")
    assert "demo-pack" in listing.output and key_id(public) in listing.output


def test_real_binary_reports_error_code(published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kpack, public = published

    def flip(files: dict[str, bytes]) -> None:
        files["documents.jsonl"] = flip_byte(files["documents.jsonl"])

    tampered = rewrite_archive(kpack, tmp_path / "t.kpack", flip)
    env = {**os.environ, "PACKDESK_DATA_DIR": str(tmp_path / "data")}
    ok = subprocess.run(
        [sys.executable, "-m", "api.cli", "pack", "verify", str(kpack), "--trust", str(public)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "api.cli", "pack", "verify", str(tampered), "--trust", str(public)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "error [checksum-mismatch]: t.kpack: documents.jsonl" in bad.stderr
