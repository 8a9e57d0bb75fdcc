"""``packdesk search`` and ``packdesk eval retrieval`` over packs built, signed and installed
the real way (pack builder with this area's indexer, PackStore install), via click's CliRunner."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner, Result

from api.cli import build_cli
from api.context import CliContext
from core.errors import IndexMismatch, PackNotFound, ValidationError
from core.packs.bootstrap import ensure_installation_key
from core.packs.builder import build_pack
from core.packs.store import PackStore
from core.retrieval.pack_index import PackIndexer
from core.settings import Settings

from .conftest import FINANCE_DOCS, MEDICAL_DOCS, make_manifest


@pytest.fixture(scope="module")
def installed(tmp_path_factory, embedder, backend) -> Settings:
    """An installation with the finance and medical test packs installed."""
    base = tmp_path_factory.mktemp("cli")
    settings = Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=base / "data")
    key, _ = ensure_installation_key(settings)
    store = PackStore(settings)
    for pack_id, documents in (("finance", FINANCE_DOCS), ("medical", MEDICAL_DOCS)):
        source = base / "src" / pack_id
        source.mkdir(parents=True)
        (source / "manifest.json").write_text(
            json.dumps(make_manifest(pack_id).model_dump(mode="json", exclude={"files"}))
        )
        (source / "documents.jsonl").write_text(
            "".join(doc.model_dump_json() + "\n" for doc in documents)
        )
        archive = base / f"{pack_id}.kpack"
        build_pack(
            source,
            private_key_path=key,
            out_path=archive,
            index_builder=PackIndexer(embedder, backend),
        )
        store.install(archive)
    return settings


@pytest.fixture(scope="module")
def root() -> click.Group:
    return build_cli()


def invoke(root: click.Group, settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(root, list(args), obj=CliContext(settings_override=settings))


def test_search_prints_ranked_results_with_citations(root, installed) -> None:
    result = invoke(
        root, installed, "search", "dispute a credit card billing error", "--pack", "finance",
        "-k", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1. [finance] Disputing a credit card charge  score ")
    assert "source: https://example.test/finance/dispute  [document fin-dispute, part 1]" in (
        result.stdout
    )
    assert "\n2. [finance]" in result.stdout and "\n3. [" not in result.stdout


def test_search_json_only_returns_the_named_packs(root, installed) -> None:
    result = invoke(
        root, installed, "search", "symptoms of influenza", "--pack", "finance", "--json",
        "--mode", "dense", "-k", "10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits and {hit["pack_id"] for hit in hits} == {"finance"}


def test_search_over_two_packs(root, installed) -> None:
    result = invoke(
        root, installed, "search", "asthma inhaler", "--pack", "finance", "--pack", "medical",
        "--json",
    )  # fmt: skip
    assert json.loads(result.stdout)[0]["document_id"] == "med-asthma"


def test_search_unknown_pack_fails(root, installed) -> None:
    result = invoke(root, installed, "search", "anything", "--pack", "nope")
    assert isinstance(result.exception, PackNotFound)
    assert "'nope'" in str(result.exception)


def test_search_empty_query_fails(root, installed) -> None:
    result = invoke(root, installed, "search", "  ", "--pack", "finance")
    assert isinstance(result.exception, ValidationError)


def test_search_k_out_of_range_fails(root, installed) -> None:
    result = invoke(root, installed, "search", "fees", "--pack", "finance", "-k", "51")
    assert isinstance(result.exception, ValidationError)
    assert "1..50" in str(result.exception)


def test_eval_retrieval_json(root, installed) -> None:
    result = invoke(root, installed, "eval", "retrieval", "--pack", "medical", "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert [r["mode"] for r in reports] == ["dense", "bm25", "hybrid"]
    for report in reports:
        assert report["cases"] == len(MEDICAL_DOCS) and report["leaked_questions"] == 0
        assert 0 < report["ndcg@10"] <= 1
    # "symptoms of the flu" shares no word with the influenza text: BM25 misses it.
    assert [r["recall@10"] for r in reports] == [1.0, pytest.approx(2 / 3, abs=1e-3), 1.0]


def test_eval_retrieval_table_for_one_mode(root, installed) -> None:
    result = invoke(root, installed, "eval", "retrieval", "--pack", "finance", "--mode", "bm25")
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output and "bm25" in result.output and "hybrid" not in result.output


def test_index_of_another_model_is_refused_then_rebuilt_on_request(
    root, installed, monkeypatch
) -> None:
    # The operator configured another model (same weights, another id): the pack's index
    # no longer matches it.
    monkeypatch.setattr("plugins.st_embedder.BUNDLED_MODEL_ID", "local/other-model", raising=True)
    result = invoke(root, installed, "search", "escrow", "--pack", "finance")
    assert isinstance(result.exception, IndexMismatch)
    assert "local/other-model" in str(result.exception)

    result = invoke(root, installed, "search", "escrow", "--pack", "finance", "--rebuild-index")
    assert result.exit_code == 0, result.output
    assert "fin-escrow" in result.output
    cache = installed.data_dir / "index-cache" / "finance" / "1.0.0" / "index"
    assert json.loads((cache / "index.json").read_text())["model_id"] == "local/other-model"
