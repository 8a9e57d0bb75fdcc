"""Building and verifying packs: the roundtrip, then one test per verification failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import (
    ChecksumMismatch,
    DocumentInvalid,
    FileSetMismatch,
    MalformedJson,
    ManifestInvalid,
    SignatureInvalid,
    SignatureMissing,
    TextNotUtf8,
    UnknownSigningKey,
)
from core.packs.archive import read_archive
from core.packs.builder import build_pack
from core.packs.manifest import Manifest
from core.packs.signing import TrustStore, generate_keypair
from core.packs.verify import verify_pack
from core.settings import ArchiveLimits
from tests.core.packs.helpers import FakeIndexBuilder, flip_byte, rewrite_archive, write_pack_source

LIMITS = ArchiveLimits()
Keys = tuple[Path, Path, str]


def test_build_then_verify_roundtrip(kpack: Path, trust: TrustStore, keys: Keys) -> None:
    verified = verify_pack(kpack, trust, LIMITS)
    assert verified.key_id == keys[2]
    assert verified.manifest.id == "demo-pack"
    assert sorted(verified.files) == ["LICENSE", "data/notes.md", "documents.jsonl"]
    assert verified.manifest.files["LICENSE"] == verified.files["LICENSE"].sha256
    files = read_archive(kpack, LIMITS)
    # What is signed is exactly the manifest file's (canonical) bytes.
    assert files["manifest.json"] == verified.manifest.canonical_bytes()
    signature = json.loads(files["signature.json"])
    assert signature["algorithm"] == "ed25519" and signature["key_id"] == keys[2]


def test_index_files_are_hashed_and_signed(
    tmp_path: Path, source: Path, keys: Keys, trust: TrustStore
) -> None:
    builder = FakeIndexBuilder()
    out = tmp_path / "indexed.kpack"
    manifest = build_pack(source, private_key_path=keys[0], out_path=out, index_builder=builder)
    assert builder.calls == [("demo-pack", 3)]
    assert {"index/vectors.bin", "index/meta.json"} <= set(manifest.files)
    assert "index/vectors.bin" in verify_pack(out, trust, LIMITS).files

    def truncate_index(files: dict[str, bytes]) -> None:
        files["index/vectors.bin"] = files["index/vectors.bin"][:-1]

    tampered = rewrite_archive(out, tmp_path / "t.kpack", truncate_index)
    with pytest.raises(ChecksumMismatch, match="index/vectors.bin"):
        verify_pack(tampered, trust, LIMITS)


def test_stale_index_and_signature_in_source_are_ignored(
    tmp_path: Path, source: Path, keys: Keys, trust: TrustStore
) -> None:
    (source / "index").mkdir()
    (source / "index" / "old.bin").write_bytes(b"stale")
    (source / "signature.json").write_text("{}")
    (source / ".DS_Store").write_bytes(b"\0")
    manifest = build_pack(source, private_key_path=keys[0], out_path=tmp_path / "p.kpack")
    assert sorted(manifest.files) == ["LICENSE", "data/notes.md", "documents.jsonl"]


def test_no_signature(tmp_path: Path, kpack: Path, trust: TrustStore) -> None:
    unsigned = rewrite_archive(kpack, tmp_path / "u.kpack", lambda f: f.pop("signature.json"))
    with pytest.raises(SignatureMissing, match="u.kpack.*signature.json"):
        verify_pack(unsigned, trust, LIMITS)


def test_unknown_signing_key(tmp_path: Path, kpack: Path, keys: Keys) -> None:
    _, other_public, other_id = generate_keypair(tmp_path / "other", "other")
    with pytest.raises(UnknownSigningKey, match=f"{keys[2]}.*{other_id}"):
        verify_pack(kpack, TrustStore.load(other_public), LIMITS)


def test_manifest_changed(tmp_path: Path, kpack: Path, trust: TrustStore) -> None:
    def raise_price(files: dict[str, bytes]) -> None:
        manifest = Manifest.model_validate_json(files["manifest.json"])
        cheaper = manifest.model_copy(update={"name": "Demo Pack (cheap)"})
        files["manifest.json"] = cheaper.canonical_bytes()

    changed = rewrite_archive(kpack, tmp_path / "m.kpack", raise_price)
    with pytest.raises(SignatureInvalid, match="manifest changed"):
        verify_pack(changed, trust, LIMITS)


def test_manifest_one_byte_changed(tmp_path: Path, kpack: Path, trust: TrustStore) -> None:
    def flip(files: dict[str, bytes]) -> None:
        files["manifest.json"] = files["manifest.json"].replace(b"Demo Pack", b"Demo Pach")

    with pytest.raises(SignatureInvalid):
        verify_pack(rewrite_archive(kpack, tmp_path / "m.kpack", flip), trust, LIMITS)


@pytest.mark.parametrize("name", ["documents.jsonl", "LICENSE", "data/notes.md"])
def test_any_file_byte_changed(tmp_path: Path, kpack: Path, trust: TrustStore, name: str) -> None:
    def flip(files: dict[str, bytes]) -> None:
        files[name] = flip_byte(files[name])

    with pytest.raises(ChecksumMismatch, match=name):
        verify_pack(rewrite_archive(kpack, tmp_path / "c.kpack", flip), trust, LIMITS)


def test_file_added(tmp_path: Path, kpack: Path, trust: TrustStore) -> None:
    def add(files: dict[str, bytes]) -> None:
        files["data/extra.md"] = b"# smuggled\n"

    with pytest.raises(FileSetMismatch, match="not in the manifest: data/extra.md"):
        verify_pack(rewrite_archive(kpack, tmp_path / "a.kpack", add), trust, LIMITS)


def test_file_removed(tmp_path: Path, kpack: Path, trust: TrustStore) -> None:
    removed = rewrite_archive(kpack, tmp_path / "r.kpack", lambda f: f.pop("LICENSE"))
    with pytest.raises(FileSetMismatch, match="missing from the pack: LICENSE"):
        verify_pack(removed, trust, LIMITS)


def test_raw_archive_byte_changed(tmp_path: Path, kpack: Path, trust: TrustStore) -> None:
    # One changed byte of the compressed file itself (not of a member) also fails.
    from core.errors import PackDeskError

    copy = tmp_path / "flipped.kpack"
    data = kpack.read_bytes()
    copy.write_bytes(data[:-40] + bytes([data[-40] ^ 0x01]) + data[-39:])
    with pytest.raises(PackDeskError):
        verify_pack(copy, trust, LIMITS)


def test_invalid_manifest_names_field_and_value(tmp_path: Path, keys: Keys) -> None:
    source = write_pack_source(tmp_path / "bad", version="1.0", pricing={"model": "weekly"})
    with pytest.raises(ManifestInvalid) as caught:
        build_pack(source, private_key_path=keys[0], out_path=tmp_path / "x.kpack")
    message = caught.value.message
    assert "version" in message and "'1.0'" in message
    assert "pricing.model" in message and "'weekly'" in message
    assert not (tmp_path / "x.kpack").exists()


def test_documents_jsonl_error_names_line(tmp_path: Path, keys: Keys) -> None:
    source = write_pack_source(tmp_path / "src")
    lines = (source / "documents.jsonl").read_text().splitlines()
    lines.insert(2, '{"id": "d9", "text": "unterminated')
    (source / "documents.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedJson, match="documents.jsonl: line 3"):
        build_pack(source, private_key_path=keys[0], out_path=tmp_path / "x.kpack")
    assert list(tmp_path.glob("*.kpack*")) == []


def test_bad_text_data_file_is_refused_at_build(tmp_path: Path, keys: Keys) -> None:
    source = write_pack_source(tmp_path / "src")
    (source / "data" / "notes.md").write_bytes(b"caf\xe9")
    with pytest.raises(TextNotUtf8, match="data/notes.md"):
        build_pack(source, private_key_path=keys[0], out_path=tmp_path / "x.kpack")


def test_duplicate_document_id(tmp_path: Path, keys: Keys) -> None:
    source = write_pack_source(tmp_path / "src")
    with (source / "documents.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "d1", "text": "again"}) + "\n")
    with pytest.raises(DocumentInvalid, match="line 4: document id 'd1' repeats line 1"):
        build_pack(source, private_key_path=keys[0], out_path=tmp_path / "x.kpack")


def test_a_name_the_reader_refuses_is_refused_at_build(tmp_path: Path, keys: Keys) -> None:
    from core.errors import ArchiveNameNotPortable

    source = write_pack_source(tmp_path / "src")
    (source / "data" / "n\u043etes.md").write_text("# look-alike\n")
    with pytest.raises(ArchiveNameNotPortable, match="data/n.tes.md"):
        build_pack(source, private_key_path=keys[0], out_path=tmp_path / "x.kpack")
    assert not (tmp_path / "x.kpack").exists()
