"""One way to make an installed pack searchable (``SearchService.load_installed_pack``), the
pack format's documents reader on the rebuild path, and the pack-builder role filled here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.errors import ChecksumMismatch, DocumentInvalid, MalformedJson, PackFormatError
from core.packs.builder import PackIndexBuilder
from core.packs.manifest import Manifest
from core.packs.store import InstalledPack
from core.retrieval.pack_index import PackIndexer
from core.retrieval.search import SearchService

from .conftest import FINANCE_DOCS, make_manifest, write_pack
from .test_pack_index import _fake_other_model_index


def _installed(root: Path, manifest: Manifest) -> InstalledPack:
    return InstalledPack(manifest=manifest, root=root, key_id="test-key")


def _signed(root: Path) -> Manifest:
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    return make_manifest("finance", files=files)


def test_the_retrieval_indexer_fills_the_pack_builder_role(embedder, backend) -> None:
    assert isinstance(PackIndexer(embedder, backend), PackIndexBuilder)


def test_load_installed_pack_makes_it_searchable(built_packs, embedder, backend) -> None:
    service = SearchService(embedder)
    installed = _installed(built_packs["finance"], make_manifest("finance"))
    searcher = service.load_installed_pack(installed, backend)
    assert service.pack_ids() == ["finance"]
    assert len(searcher) == len(FINANCE_DOCS)
    hits = service.search("escrow for taxes and insurance", pack_ids={"finance"}, mode="dense")
    assert hits[0].document_id == "fin-escrow"


def test_load_installed_pack_checks_the_signed_checksums(tmp_path, embedder, backend) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    manifest = _signed(root)
    vectors = root / "index" / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    service = SearchService(embedder)
    with pytest.raises(ChecksumMismatch, match="index/vectors.faiss"):
        service.load_installed_pack(_installed(root, manifest), backend)
    assert service.pack_ids() == []  # a pack that fails to load is never searchable


def test_load_installed_pack_rebuilds_outside_the_pack(
    tmp_path, embedder, backend, snapshot
) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    _fake_other_model_index(root)
    before = snapshot(root)
    rebuilt = tmp_path / "cache" / "finance" / "index"
    service = SearchService(embedder)
    searcher = service.load_installed_pack(
        _installed(root, make_manifest("finance")), backend, rebuild_dir=rebuilt, verify=False
    )
    assert searcher.meta.model_id == embedder.model_id
    assert service.pack_ids() == ["finance"]
    assert snapshot(root) == before


# --- a malformed documents.jsonl on the rebuild path: the pack format's stable errors --------
@pytest.mark.parametrize(
    ("bad_line", "error", "message"),
    [
        (b'{"id": "x", "text": ""}', DocumentInvalid, r"line 2: text: .*got ''"),
        (b"{oops}", MalformedJson, "line 2: malformed JSON"),
    ],
)
def test_rebuild_reports_a_malformed_documents_file_as_a_pack_format_error(
    tmp_path, embedder, backend, bad_line: bytes, error: type[PackFormatError], message: str
) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    _fake_other_model_index(root)
    documents = root / "documents.jsonl"
    first = documents.read_bytes().split(b"\n")[0]
    documents.write_bytes(first + b"\n" + bad_line + b"\n")
    rebuilt = tmp_path / "cache" / "index"
    service = SearchService(embedder)
    with pytest.raises(error, match=message) as caught:
        service.load_installed_pack(
            _installed(root, make_manifest("finance")), backend, rebuild_dir=rebuilt
        )
    assert isinstance(caught.value, PackFormatError)
    assert str(documents) in str(caught.value)  # names the file
    assert not rebuilt.exists() and service.pack_ids() == []
