"""Approved packs that fail to load: approval refuses them, startup skips them, an admin withdraws
them; a restart serves the newest installed version that is approved (issue 14, defects 4, 10)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from core.settings import Settings
from tests.api.conftest import Accounts, bearer, enable_payouts, register_publisher_key
from tests.api.test_publisher_journey import PET_QUESTION, upload, write_pet_pack


class PetPublisher:
    """A publisher key and the pet-care pack built and signed with it (real index or none)."""

    def __init__(self, root: Path, embedder: Any) -> None:
        from core.packs.signing import generate_keypair

        self.root = root
        self.embedder = embedder
        self.private, self.public, self.key_id = generate_keypair(root / "keys", "pets")

    def build(self, version: str = "1.0.0", *, index: bool = True) -> Path:
        from core.packs.builder import build_pack
        from core.retrieval.pack_index import PackIndexer
        from plugins.faiss_index import FaissBackend

        source = write_pet_pack(self.root / f"src-{version}-{index}", version=version)
        out = self.root / f"pet-care-{version}-{index}.kpack"
        indexer = PackIndexer(self.embedder, FaissBackend()) if index else None
        build_pack(source, private_key_path=self.private, out_path=out, index_builder=indexer)
        return out


@pytest.fixture
def pets(tmp_path: Path, shared_embedder: Any) -> PetPublisher:
    return PetPublisher(tmp_path / "pets", shared_embedder)


def publish(client: TestClient, publisher: str, pets: PetPublisher, archive: Path) -> None:
    register_publisher_key(client, publisher, pets.public, pets.private)
    enable_payouts(client, publisher)  # the pet pack is paid: approvable once payouts work
    uploaded = upload(client, publisher, archive.read_bytes())
    assert uploaded.status_code == 201, uploaded.text


def approve(client: TestClient, admin: str, version: str) -> Any:
    return client.post(
        f"/v1/admin/packs/pet-care/versions/{version}/approve", headers=bearer(admin)
    )


def statuses(client: TestClient, publisher: str) -> dict[str, str]:
    rows = client.get("/v1/publisher/packs", headers=bearer(publisher)).json()
    return {row["version"]: row["status"] for row in rows}


def leftovers(settings: Settings) -> list[str]:
    """Everything under the store that is not a built-in pack (work dirs included)."""
    packs = settings.packs_dir
    builtin = {"finance", "legal", "support-basics"}
    return sorted(p.name for p in packs.iterdir() if p.name not in builtin)


@contextmanager
def restarted(
    settings: Settings, shared_embedder: Any, small_classifier: Any
) -> Iterator[TestClient]:
    """A second server process on the same data directory (the first one's state on disk)."""
    from api.app import create_app

    app = create_app(
        settings, start_options={"embedder": shared_embedder, "classifier": small_classifier}
    )
    with TestClient(app, base_url="http://testserver.local") as second:
        yield second


def test_approval_of_a_pack_that_cannot_load_leaves_it_pending_and_uninstalled(
    client, accounts, pets, api_settings
) -> None:
    publisher, admin = accounts.create("publisher"), accounts.create("admin")
    publish(client, publisher, pets, pets.build(index=False))

    refused = approve(client, admin, "1.0.0")

    assert statuses(client, publisher) == {"1.0.0": "pending"}
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/pack-load-failed")
    assert "pet-care" in problem["detail"] and "index" in problem["detail"]
    assert client.get("/v1/packs/pet-care").status_code == 404
    assert "pet-care" not in client.get("/readyz").json()["packs"]
    assert leftovers(api_settings) == []  # nothing half-installed
    # The approval that failed trusts nothing either.
    assert list(api_settings.trust_dir.glob("publisher-*")) == []


def _approved_but_unloadable(client: TestClient, pets: PetPublisher, how: str) -> None:
    """The state the old approval left behind: installed, approved, and not loadable."""
    services = client.app.state.services
    archive = pets.build(index=how != "no-index")
    services.settings.trust_dir.joinpath(f"publisher-{pets.key_id}.pub").write_bytes(
        pets.public.read_bytes()
    )
    installed = services.store.install(archive)
    client.blocking_portal.call(
        partial(services.catalog.approve, "pet-care", "1.0.0", admin_account_id="old-code")
    )
    if how == "altered-file":
        vectors = installed.root / "index" / "vectors.faiss"
        os.chmod(vectors, 0o644)
        vectors.write_bytes(vectors.read_bytes()[:-16])


@pytest.mark.parametrize(
    ("how", "error"), [("no-index", "pack-format-invalid"), ("altered-file", "checksum-mismatch")]
)
def test_startup_skips_a_pack_that_fails_to_load_and_an_admin_withdraws_it(
    client, accounts, pets, api_settings, shared_embedder, small_classifier, how, error
) -> None:
    publisher = accounts.create("publisher")
    publish(client, publisher, pets, pets.build(index=how != "no-index"))
    _approved_but_unloadable(client, pets, how)

    with restarted(api_settings, shared_embedder, small_classifier) as second:
        ready = second.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["packs"] == ["finance", "legal", "support-basics"]
        [skipped] = body["skipped"]
        assert (skipped["pack_id"], skipped["version"], skipped["code"]) == (
            "pet-care",
            "1.0.0",
            error,
        )
        assert skipped["error"]
        admin = Accounts(second).create("admin")
        listed = second.get("/v1/admin/packs", headers=bearer(admin)).json()
        assert {(p["pack_id"], p["version"]) for p in listed["loaded"]} >= {("finance", "1.0.0")}
        assert [(s["pack_id"], s["version"]) for s in listed["skipped"]] == [("pet-care", "1.0.0")]

        withdrawn = second.post(
            "/v1/admin/packs/pet-care/versions/1.0.0/withdraw", headers=bearer(admin)
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json() == {
            "pack_id": "pet-care",
            "version": "1.0.0",
            "status": "withdrawn",
        }
        assert second.get("/readyz").json()["skipped"] == []
        assert second.get("/v1/packs/pet-care").status_code == 404
        assert leftovers(api_settings) == []
        assert statuses(second, publisher) == {"1.0.0": "withdrawn"}
        assert ("pack.withdrawn", account_id(second, admin)) in audit(second)


def test_withdraw_unloads_a_live_pack_and_needs_an_admin(client, accounts, pets) -> None:
    publisher, admin, customer = (accounts.create(s) for s in ("publisher", "admin", "customer"))
    publish(client, publisher, pets, pets.build())
    assert approve(client, admin, "1.0.0").status_code == 200
    assert "pet-care" in client.get("/readyz").json()["packs"]
    path = "/v1/admin/packs/pet-care/versions/1.0.0/withdraw"
    assert client.post(path, headers=bearer(publisher)).status_code == 403
    assert client.post(path, headers=bearer(admin)).status_code == 200
    assert client.post(path, headers=bearer(admin)).status_code == 409  # already withdrawn
    assert (
        client.post(
            "/v1/admin/packs/pet-care/versions/9.9.9/withdraw", headers=bearer(admin)
        ).status_code
        == 404
    )
    assert "pet-care" not in client.get("/readyz").json()["packs"]
    assert "pet-care" not in client.app.state.services.search.pack_ids()
    answer = client.post("/v1/ask", json={"question": PET_QUESTION}, headers=bearer(customer))
    assert answer.status_code == 200
    assert answer.json()["offer"] is None or answer.json()["offer"]["pack_id"] != "pet-care"


def test_restart_serves_the_newest_installed_version_that_is_approved(
    client, accounts, pets, api_settings, shared_embedder, small_classifier
) -> None:
    publisher, admin = accounts.create("publisher"), accounts.create("admin")
    publish(client, publisher, pets, pets.build("1.0.0"))
    assert approve(client, admin, "1.0.0").status_code == 200
    # 1.1.0 installed but never approved: the approval stopped between install and the ledger.
    newer = pets.build("1.1.0")
    assert upload(client, publisher, newer.read_bytes()).status_code == 201
    client.app.state.services.store.install(newer)
    assert statuses(client, publisher) == {"1.0.0": "approved", "1.1.0": "pending"}

    with restarted(api_settings, shared_embedder, small_classifier) as second:
        assert "pet-care" in second.get("/readyz").json()["packs"]
        assert second.app.state.services.packs["pet-care"].version == "1.0.0"
        assert second.get("/readyz").json()["skipped"] == []


def test_rejecting_the_live_version_serves_the_older_approved_one(
    client, accounts, pets, api_settings, shared_embedder, small_classifier
) -> None:
    publisher, admin = accounts.create("publisher"), accounts.create("admin")
    publish(client, publisher, pets, pets.build("1.0.0"))
    assert approve(client, admin, "1.0.0").status_code == 200
    assert upload(client, publisher, pets.build("1.1.0").read_bytes()).status_code == 201
    assert approve(client, admin, "1.1.0").status_code == 200
    assert client.app.state.services.packs["pet-care"].version == "1.1.0"

    rejected = client.post(
        "/v1/admin/packs/pet-care/versions/1.1.0/reject",
        json={"reason": "leaks a customer list"},
        headers=bearer(admin),
    )
    assert rejected.status_code == 200, rejected.text
    assert client.app.state.services.packs["pet-care"].version == "1.0.0"
    with restarted(api_settings, shared_embedder, small_classifier) as second:
        assert second.app.state.services.packs["pet-care"].version == "1.0.0"


def account_id(client: TestClient, api_key: str) -> str:
    services = client.app.state.services
    return str(client.blocking_portal.call(services.accounts.authenticate, api_key).account_id)


def audit(client: TestClient) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    from core.ledger.models import AuditEntry

    async def read() -> list[tuple[str, str | None]]:
        async with client.app.state.services.db.read() as session:
            rows = await session.execute(
                select(AuditEntry.action, AuditEntry.account_id).order_by(AuditEntry.entry_id)
            )
            return [(action, account) for action, account in rows]

    return client.blocking_portal.call(read)
