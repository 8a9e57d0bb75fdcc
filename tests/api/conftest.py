"""HTTP tests run the real app (Litestar test client) over small real packs.

Session scope, built once: small versions of the finance, legal and support-basics packs (real
documents, fewer of them), indexed with the real embedder and FAISS and signed with a session
key; and a small platform-intent model (see small_classifier). Each test gets a fresh data directory
where those archives are installed as that installation's built-in packs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from core.settings import Settings
from tests.conftest import train_platform_model

DOCS_PER_PACK = {"finance": 40, "legal": 40, "support-basics": 27}
INTENTS_PER_PACK = {"finance": 4, "legal": 3, "support-basics": 4}
EXAMPLES_PER_INTENT = 8  # the packs' own intents stay small: routing reads them


@dataclass(frozen=True)
class BuiltPacks:
    keys_dir: Path  # holds installation.key: the packs count as this installation's own
    archives: dict[str, Path]
    documents: dict[str, list[dict[str, Any]]]


def _shrink(source: Path, pack_id: str) -> None:
    manifest = json.loads((source / "manifest.json").read_text())
    platform = [i for i in manifest["intents"] if i.get("platform")]
    domain = [i for i in manifest["intents"] if not i.get("platform")]
    # Keep the Ask CFPB topic intents of finance: they say what its documents answer.
    domain.sort(key=lambda i: (not i["name"].startswith("topic_"), i["name"]))
    kept = platform + domain[: INTENTS_PER_PACK[pack_id]]
    for intent in kept:
        intent["examples"] = intent["examples"][:EXAMPLES_PER_INTENT]
    manifest["intents"] = kept
    (source / "manifest.json").write_text(json.dumps(manifest))
    lines = (source / "documents.jsonl").read_text().splitlines()[: DOCS_PER_PACK[pack_id]]
    (source / "documents.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def built_packs(tmp_path_factory: pytest.TempPathFactory, shared_embedder: Any) -> BuiltPacks:
    from core.packs.builder import build_pack
    from core.packs.signing import generate_keypair
    from core.retrieval.pack_index import PackIndexer
    from knowledge_packs.prepare import prepare_pack
    from plugins.faiss_index import FaissBackend

    root = tmp_path_factory.mktemp("api-packs")
    keys_dir = root / "keys"
    private_key, _, _ = generate_keypair(keys_dir, name="installation")
    indexer = PackIndexer(shared_embedder, FaissBackend())
    archives, documents = {}, {}
    for pack_id in DOCS_PER_PACK:
        source = prepare_pack(pack_id, root / "sources" / pack_id)
        _shrink(source, pack_id)
        archives[pack_id] = root / f"{pack_id}.kpack"
        build_pack(
            source, private_key_path=private_key, out_path=archives[pack_id], index_builder=indexer
        )
        documents[pack_id] = [
            json.loads(line) for line in (source / "documents.jsonl").read_text().splitlines()
        ]
    return BuiltPacks(keys_dir=keys_dir, archives=archives, documents=documents)


@pytest.fixture(scope="session")
def small_classifier(tmp_path_factory: pytest.TempPathFactory, shared_embedder: Any) -> Any:
    """The platform intents (greeting, thanks, goodbye, human_agent, complaint) with a calibrated
    out-of-scope threshold: an intent head over the shared embedder's vectors, as the server
    runs it (trained in seconds). Domain questions come out below the threshold, so the HTTP
    tests exercise routing by retrieval scores as well as intents."""
    from core.intents.classifier import IntentClassifier

    model_dir = train_platform_model(tmp_path_factory.mktemp("api-intents") / "model",
                                     embedder=shared_embedder)
    classifier = IntentClassifier(model_dir, embed=shared_embedder.embed,
                                  embedder_id=shared_embedder.model_id)
    classifier.warm_up()
    return classifier


def install_built_packs(settings: Settings, built: BuiltPacks, pack_ids: list[str]) -> None:
    """Make the session's archives this data directory's own built-in packs."""
    from core.packs.bootstrap import ensure_installation_key
    from core.packs.store import PackStore

    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built.keys_dir / "installation.key", settings.keys_dir / "installation.key")
    ensure_installation_key(settings)
    store = PackStore(settings)
    for pack_id in pack_ids:
        store.install(built.archives[pack_id])


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_prefix="PACKDESK_TEST_UNUSED_",
        data_dir=tmp_path / "data",
        max_upload_bytes=2 * 1024 * 1024,
        public_base_url="http://testserver.local",
        billing_provider="local",  # TEST MODE, chosen explicitly: never a fallback
    )


@pytest.fixture
def client(
    api_settings: Settings, built_packs: BuiltPacks, shared_embedder: Any, small_classifier: Any
) -> Iterator[TestClient]:
    from api.app import create_app

    install_built_packs(api_settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        api_settings,
        start_options={"embedder": shared_embedder, "classifier": small_classifier},
    )
    with TestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client


class Accounts:
    """Creates accounts straight through the ledger of the running app (keys shown once)."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def create(self, scope: str, name: str | None = None) -> str:
        services = self._client.app.state.services
        _, api_key = self._client.blocking_portal.call(
            services.accounts.create_account, name or f"test {scope}", scope
        )
        return api_key


@pytest.fixture
def accounts(client: TestClient) -> Accounts:
    return Accounts(client)


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def key_registration(public_key: Path, private_key: Path, account_id: str) -> dict[str, str]:
    """The body of ``POST /v1/publisher/keys``: the public key and its proof of possession for
    ``account_id`` (what ``packdesk keys prove`` prints)."""
    from core.packs.signing import load_private_key, prove_key_possession

    return {
        "public_key": public_key.read_text(),
        "signature": prove_key_possession(load_private_key(private_key), account_id),
    }


def register_publisher_key(
    client: TestClient, api_key: str, public_key: Path, private_key: Path
) -> Any:
    """Register a publisher key through the API with a valid proof for the caller's account;
    asserts it was registered (201)."""
    services = client.app.state.services
    account_id = client.blocking_portal.call(services.accounts.authenticate, api_key).account_id
    response = client.post(
        "/v1/publisher/keys",
        json=key_registration(public_key, private_key, account_id),
        headers=bearer(api_key),
    )
    assert response.status_code == 201, response.text
    return response


@dataclass(frozen=True)
class PetPack:
    """A third-party pack (not the installation's own): signed with a publisher key."""

    archive: Path
    public_key: Path
    private_key: Path
    key_id: str
    pack_id: str = "pet-care"
    version: str = "1.0.0"


@pytest.fixture(scope="session")
def pet_pack(tmp_path_factory: pytest.TempPathFactory, shared_embedder: Any) -> PetPack:
    """The pet-care pack of the publisher journey, indexed and signed by a publisher key, ready
    to upload (``POST /v1/publisher/packs``)."""
    from core.packs.builder import build_pack
    from core.packs.signing import generate_keypair
    from core.retrieval.pack_index import PackIndexer
    from plugins.faiss_index import FaissBackend
    from tests.api.test_publisher_journey import write_pet_pack

    root = tmp_path_factory.mktemp("pet-pack")
    private_key, public_key, key_id = generate_keypair(root / "keys", name="pets")
    archive = root / "pet-care.kpack"
    build_pack(
        write_pet_pack(root / "source"),
        private_key_path=private_key,
        out_path=archive,
        index_builder=PackIndexer(shared_embedder, FaissBackend()),
    )
    return PetPack(archive=archive, public_key=public_key, private_key=private_key, key_id=key_id)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards); skips the test when
    no PostgreSQL answers at PACKDESK_TEST_PG_HOST:PORT."""
    from tests.core.ledger.conftest import throwaway_postgres_database

    with throwaway_postgres_database("packdesk_api") as url:
        yield url


def enable_payouts(client: TestClient, publisher_key: str) -> dict[str, Any]:
    """Onboard a publisher for payouts through HTTP with the local (TEST MODE) provider, as it
    must be before a paid pack of it can be approved; returns its payout status."""
    started = client.post("/v1/publisher/payouts/onboarding", headers=bearer(publisher_key))
    assert started.status_code == 201, started.text
    path = started.json()["url"].removeprefix("http://testserver.local")
    assert client.post(path, follow_redirects=False).status_code == 303
    status = client.get("/v1/publisher/payouts", headers=bearer(publisher_key)).json()
    assert status["can_receive_payouts"], status
    return dict(status)


def buy_and_activate(client: TestClient, customer: dict[str, str], pack_id: str) -> None:
    """The local test-mode purchase and activation, through HTTP as a customer makes them."""
    checkout = client.post("/v1/checkout", json={"pack_id": pack_id}, headers=customer)
    assert checkout.status_code == 201, checkout.text
    path = checkout.json()["checkout_url"].removeprefix("http://testserver.local")
    assert client.post(path, follow_redirects=False).status_code == 303
    assert client.post(f"/v1/packs/{pack_id}/activate", headers=customer).is_success
