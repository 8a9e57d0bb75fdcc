"""A source's shipped-vectors file goes to the index builder, never into the pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.packs.builder import SHIPPED_VECTORS_FILE, build_pack
from core.packs.signing import TrustStore
from core.packs.verify import verify_pack
from core.settings import ArchiveLimits
from tests.core.packs.helpers import FakeIndexBuilder


class RecordingIndexBuilder(FakeIndexBuilder):
    def __init__(self) -> None:
        super().__init__()
        self.shipped: list[Path | None] = []

    def build(self, manifest: Any, documents: list[Any], index_dir: Path, **kwargs: Any) -> None:
        self.shipped.append(kwargs.get("shipped_vectors"))
        super().build(manifest, documents, index_dir)


def test_the_file_is_handed_to_the_index_builder_and_left_out(
    tmp_path: Path, source: Path, keys, trust: TrustStore
) -> None:
    (source / SHIPPED_VECTORS_FILE).write_bytes(b"vectors")
    builder = RecordingIndexBuilder()
    out = tmp_path / "out.kpack"
    signed = build_pack(source, private_key_path=keys[0], out_path=out, index_builder=builder)
    assert builder.shipped == [source / SHIPPED_VECTORS_FILE]
    assert SHIPPED_VECTORS_FILE not in signed.files
    assert SHIPPED_VECTORS_FILE not in verify_pack(out, trust, ArchiveLimits()).manifest.files


def test_without_the_file_the_builder_is_called_as_before(
    tmp_path: Path, source: Path, keys
) -> None:
    builder = FakeIndexBuilder()  # takes no shipped_vectors argument at all
    build_pack(
        source, private_key_path=keys[0], out_path=tmp_path / "o.kpack", index_builder=builder
    )
    assert builder.calls == [("demo-pack", 3)]


def test_the_file_is_left_out_when_no_index_is_built(tmp_path: Path, source: Path, keys) -> None:
    (source / SHIPPED_VECTORS_FILE).write_bytes(b"vectors")
    signed = build_pack(source, private_key_path=keys[0], out_path=tmp_path / "o.kpack")
    assert SHIPPED_VECTORS_FILE not in signed.files
