"""Retrieval fixtures: the real bundled model (loaded once per session), real FAISS and bm25s,
and small packs built on disk the way ``packdesk pack build`` lays them out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.packs.documents import Document
from core.packs.manifest import EmbeddingModelRef, IndexSettings, Manifest, Pricing
from core.retrieval.pack_index import PackIndexer
from core.retrieval.search import SearchService
from core.retrieval.searcher import PackSearcher
from plugins.faiss_index import FaissBackend
from plugins.st_embedder import SentenceTransformerEmbedder

FINANCE_DOCS = [
    Document(
        id="fin-dispute",
        title="Disputing a credit card charge",
        text="If a merchant billed you for something you did not buy, write to your card "
        "issuer within 60 days of the statement date. The issuer must investigate the billing "
        "error and may not collect the disputed amount while it does.",
        source_url="https://example.test/finance/dispute",
        metadata={"eval_questions": ["How do I contest a wrong charge on my credit card?"]},
    ),
    Document(
        id="fin-escrow",
        title="Mortgage escrow accounts",
        text="An escrow account is set up by your mortgage lender to pay property taxes and "
        "homeowner's insurance on your behalf. Part of each monthly payment goes into it.",
        source_url="https://example.test/finance/escrow",
        metadata={"eval_questions": ["What is an escrow account for a home loan?"]},
    ),
    Document(
        id="fin-overdraft",
        title="Overdraft fees",
        text="Banks may charge a fee when a debit card purchase or check overdraws your "
        "checking account. You can opt out of overdraft coverage for ATM and one-time debit "
        "card transactions.",
        source_url="https://example.test/finance/overdraft",
        metadata={"eval_questions": ["Can I stop my bank from charging overdraft fees?"]},
    ),
    Document(
        id="fin-credit-score",
        title="Credit scores",
        text="A credit score predicts how likely you are to repay a loan. Paying bills on time "
        "and keeping balances low relative to limits raise it over time.",
        source_url="https://example.test/finance/score",
        metadata={"eval_questions": ["How can I improve my credit rating?"]},
    ),
]

MEDICAL_DOCS = [
    Document(
        id="med-flu",
        title="Influenza",
        text="Influenza is a contagious respiratory illness caused by influenza viruses. It "
        "brings fever, cough, sore throat and muscle aches. A yearly vaccine lowers the risk.",
        source_url="https://example.test/medical/flu",
        metadata={"eval_questions": ["What are the symptoms of the flu?"]},
    ),
    Document(
        id="med-asthma",
        title="Asthma",
        text="Asthma inflames and narrows the airways of the lungs, causing wheezing, chest "
        "tightness and shortness of breath. Inhaled corticosteroids control it long term.",
        source_url="https://example.test/medical/asthma",
        metadata={"eval_questions": ["How is asthma treated?"]},
    ),
    Document(
        id="med-diabetes",
        title="Type 2 diabetes",
        text="In type 2 diabetes the body does not use insulin well, so blood glucose rises. "
        "Diet, exercise and metformin are the first treatments.",
        source_url="https://example.test/medical/diabetes",
        metadata={"eval_questions": ["What causes high blood sugar in type 2 diabetes?"]},
    ),
]


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    model = SentenceTransformerEmbedder(device="cpu")
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def backend() -> FaissBackend:
    return FaissBackend(use_gpu=False)


def make_manifest(
    pack_id: str,
    *,
    model_id: str = "sentence-transformers/all-MiniLM-L6-v2",
    dimension: int = 384,
    kind: str = "flat",
    chunk_tokens: int = 200,
    chunk_overlap: int = 40,
    files: dict[str, str] | None = None,
) -> Manifest:
    return Manifest(
        id=pack_id,
        name=f"{pack_id} test pack",
        version="1.0.0",
        domain=pack_id,
        publisher="tests",
        license="CC0-1.0",
        attribution="written for the tests",
        pricing=Pricing(model="free"),
        embedding_model=EmbeddingModelRef(id=model_id, dimension=dimension),
        index=IndexSettings(kind=kind, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap),
        files=files or {},
    )


def write_pack(
    root: Path,
    manifest: Manifest,
    documents: list[Document],
    embedder: SentenceTransformerEmbedder,
    backend: FaissBackend,
) -> Path:
    """Lay a pack out on disk (manifest.json, documents.jsonl, index/) and return its root."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "documents.jsonl").write_text(
        "".join(doc.model_dump_json() + "\n" for doc in documents), encoding="utf-8"
    )
    (root / "index").mkdir()
    PackIndexer(embedder, backend).build(manifest, documents, root / "index")
    (root / "manifest.json").write_text(json.dumps(manifest.model_dump(mode="json")))
    return root


@pytest.fixture(scope="session")
def built_packs(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
    backend: FaissBackend,
) -> dict[str, Path]:
    """Two packs, finance and medical, built once for the session (read-only for tests)."""
    base = tmp_path_factory.mktemp("packs")
    return {
        "finance": write_pack(
            base / "finance", make_manifest("finance"), FINANCE_DOCS, embedder, backend
        ),
        "medical": write_pack(
            base / "medical", make_manifest("medical"), MEDICAL_DOCS, embedder, backend
        ),
    }


@pytest.fixture(scope="session")
def service(
    built_packs: dict[str, Path],
    embedder: SentenceTransformerEmbedder,
    backend: FaissBackend,
) -> SearchService:
    search = SearchService(embedder, max_query_chars=500, max_top_k=20)
    for pack_id, root in built_packs.items():
        search.add_pack(pack_id, PackSearcher.load(root, make_manifest(pack_id), embedder, backend))
    return search


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """Every file under a directory with its bytes, to assert nothing was written."""

    def take(root: Path) -> dict[str, bytes]:
        if not root.exists():
            return {}
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    return take
