"""Index build and load with the real model, real FAISS and bm25s; model and file checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.errors import ChecksumMismatch, FileSetMismatch, IndexMismatch, PackFormatError
from core.retrieval.pack_index import PackIndexer
from core.retrieval.search import SearchService
from core.retrieval.searcher import PackSearcher

from .conftest import FINANCE_DOCS, make_manifest, write_pack


def test_build_writes_index_files_and_metadata(built_packs) -> None:
    index_dir = built_packs["finance"] / "index"
    assert sorted(p.name for p in index_dir.iterdir()) == [
        "bm25",
        "chunks.jsonl",
        "index.json",
        "vectors.faiss",
    ]
    meta = json.loads((index_dir / "index.json").read_text())
    assert meta["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["dimension"] == 384
    assert meta["kind"] == "flat"
    assert meta["chunk_count"] == len(FINANCE_DOCS)
    assert (meta["chunk_tokens"], meta["chunk_overlap"]) == (200, 40)


def test_loaded_index_round_trips(built_packs, embedder, backend) -> None:
    searcher = PackSearcher.load(
        built_packs["finance"], make_manifest("finance"), embedder, backend
    )
    assert len(searcher) == len(FINANCE_DOCS)
    assert searcher.chunks[1].document_id == "fin-escrow"
    scores, ids = searcher.dense(embedder.embed(["escrow for property taxes"]), 2)
    assert searcher.chunks[int(ids[0, 0])].document_id == "fin-escrow"
    assert scores[0, 0] > scores[0, 1]


def test_build_refuses_a_manifest_naming_another_model(tmp_path, embedder, backend) -> None:
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    manifest = make_manifest("finance", model_id="acme/other-model", dimension=768)
    with pytest.raises(IndexMismatch, match="acme/other-model"):
        PackIndexer(embedder, backend).build(manifest, FINANCE_DOCS, index_dir)
    assert list(index_dir.iterdir()) == []


def _fake_other_model_index(root: Path) -> None:
    meta_path = root / "index" / "index.json"
    meta = json.loads(meta_path.read_text())
    meta.update(model_id="acme/other-model", dimension=768)
    meta_path.write_text(json.dumps(meta))


def test_load_refuses_an_index_made_with_another_model(tmp_path, embedder, backend) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    _fake_other_model_index(root)
    with pytest.raises(IndexMismatch) as caught:
        PackSearcher.load(root, make_manifest("finance"), embedder, backend)
    message = str(caught.value)
    assert "acme/other-model" in message and "768" in message
    assert "all-MiniLM-L6-v2" in message and "--rebuild-index" in message


def test_load_rebuilds_outside_the_pack_when_asked(tmp_path, embedder, backend, snapshot) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    _fake_other_model_index(root)
    before = snapshot(root)
    rebuilt = tmp_path / "cache" / "finance" / "index"
    searcher = PackSearcher.load(
        root, make_manifest("finance"), embedder, backend, rebuild_dir=rebuilt
    )
    assert searcher.meta.model_id == embedder.model_id
    assert json.loads((rebuilt / "index.json").read_text())["dimension"] == 384
    assert snapshot(root) == before  # the signed pack is untouched
    assert not rebuilt.with_name("index.partial").exists()


def _signed_manifest(root: Path):
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    return make_manifest("finance", files=files)


def test_truncated_index_file_fails_verification(tmp_path, embedder, backend) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    manifest = _signed_manifest(root)
    vectors = root / "index" / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(ChecksumMismatch, match="index/vectors.faiss"):
        PackSearcher.load(root, manifest, embedder, backend)


def test_extra_index_file_fails_verification(tmp_path, embedder, backend) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    manifest = _signed_manifest(root)
    (root / "index" / "planted.bin").write_bytes(b"x")
    with pytest.raises(FileSetMismatch, match="planted.bin"):
        PackSearcher.load(root, manifest, embedder, backend)


def test_truncated_vectors_of_an_unsigned_pack_are_a_format_error(
    tmp_path, embedder, backend
) -> None:
    root = write_pack(tmp_path / "p", make_manifest("finance"), FINANCE_DOCS, embedder, backend)
    vectors = root / "index" / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(PackFormatError, match="vectors.faiss"):
        PackSearcher.load(root, make_manifest("finance"), embedder, backend)


def test_hnsw_is_selectable_per_pack(tmp_path, embedder, backend) -> None:
    manifest = make_manifest("finance", kind="hnsw", chunk_tokens=32, chunk_overlap=8)
    root = write_pack(tmp_path / "p", manifest, FINANCE_DOCS, embedder, backend)
    assert json.loads((root / "index" / "index.json").read_text())["kind"] == "hnsw"
    searcher = PackSearcher.load(root, manifest, embedder, backend)
    assert searcher.vectors.kind == "hnsw"
    service = SearchService(embedder)
    service.add_pack("finance", searcher)
    hits = service.search("escrow for taxes and insurance", pack_ids={"finance"}, mode="dense")
    assert hits[0].document_id == "fin-escrow"
