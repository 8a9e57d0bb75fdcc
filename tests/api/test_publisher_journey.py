"""The publisher journey and every upload rejection, through the HTTP API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from api.cli import build_cli
from api.context import CliContext
from tests.api.conftest import bearer, enable_payouts, key_registration, register_publisher_key

PET_DOCUMENTS = [
    (
        "dog-vaccines",
        "Core vaccines for dogs",
        "Puppies need the core vaccines against canine distemper, parvovirus and adenovirus at "
        "six to eight weeks of age, with boosters every three to four weeks until sixteen weeks. "
        "Rabies vaccination is required by law in most places.",
    ),
    (
        "cat-litter",
        "Litter box hygiene for cats",
        "Scoop the litter box every day and replace all litter weekly. Cats avoid dirty boxes and "
        "may start urinating elsewhere. Provide one box per cat plus one extra.",
    ),
    (
        "puppy-teething",
        "Puppy teething and chewing",
        "Teething puppies chew to relieve sore gums between three and six months of age. Offer "
        "rubber chew toys and frozen washcloths, and redirect chewing away from furniture.",
    ),
    (
        "fish-water",
        "Aquarium water changes",
        "Change ten to fifteen percent of aquarium water weekly, treat tap water with a "
        "dechlorinator and keep the temperature stable to keep fish healthy.",
    ),
]
PET_QUESTION = "Which vaccines does my puppy need against distemper and parvovirus?"


def write_pet_pack(root: Path, *, version: str = "1.0.0") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "id": "pet-care",
        "name": "Pet Care",
        "version": version,
        "domain": "pets",
        "description": "Looking after dogs, cats and fish.",
        "publisher": "Example Pets Ltd",
        "license": "CC-BY-4.0",
        "attribution": "Written for the PackDesk test suite.",
        "pricing": {"model": "one_time", "amount": 500, "currency": "usd"},
        "embedding_model": {"id": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384},
        "disclaimer": "Ask a veterinarian about your own pet.",
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    lines = [
        json.dumps({"id": doc_id, "title": title, "text": text, "source_url": None})
        for doc_id, title, text in PET_DOCUMENTS
    ]
    (root / "documents.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def cli() -> click.Group:
    return build_cli()


def run_cli(cli: click.Group, settings, *args) -> str:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        cli, [str(a) for a in args], obj=CliContext(settings_override=settings)
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def publisher_kit(cli, api_settings, tmp_path: Path) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """A key pair and a pack built and signed with the real CLI (index included)."""
    run_cli(cli, api_settings, "keys", "generate", "--out", tmp_path / "pub", "--name", "pets")
    source = write_pet_pack(tmp_path / "pet-src")
    kpack = tmp_path / "pet-care.kpack"
    run_cli(
        cli,
        api_settings,
        "pack",
        "build",
        source,
        "--key",
        tmp_path / "pub/pets.key",
        "--out",
        kpack,
    )
    return {
        "kpack": kpack,
        "public": tmp_path / "pub/pets.pub",
        "private": tmp_path / "pub/pets.key",
        "source": source,
    }


def upload(client, key: str, body: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/publisher/packs",
        content=body,
        headers={**bearer(key), "Content-Type": "application/octet-stream"},
    )


def review_audit(client) -> list[tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    """The pack review rows of the audit log: (action, account id, pack id)."""
    from sqlalchemy import select

    from core.ledger.models import AuditEntry

    async def read() -> list[tuple[str, str | None, str | None]]:
        async with client.app.state.services.db.read() as session:
            rows = await session.execute(
                select(AuditEntry.action, AuditEntry.account_id, AuditEntry.pack_id)
                .where(AuditEntry.action.in_(["pack.approved", "pack.rejected"]))
                .order_by(AuditEntry.entry_id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    return client.blocking_portal.call(read)


def account_id_of(client, api_key: str) -> str:  # type: ignore[no-untyped-def]
    services = client.app.state.services
    return client.blocking_portal.call(services.accounts.authenticate, api_key).account_id


def test_publish_review_buy_and_ask(client, accounts, publisher_kit) -> None:
    publisher = accounts.create("publisher")
    admin = accounts.create("admin")
    customer = accounts.create("customer")

    registered = register_publisher_key(
        client, publisher, publisher_kit["public"], publisher_kit["private"]
    )
    assert registered.status_code == 201, registered.text
    uploaded = upload(client, publisher, publisher_kit["kpack"].read_bytes())
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["status"] == "pending"
    assert set(uploaded.json()) == {"pack_id", "version", "status", "key_id"}
    assert client.get("/v1/packs/pet-care").status_code == 404  # pending: not in the catalog
    statuses = client.get("/v1/publisher/packs", headers=bearer(publisher)).json()
    assert [(row["pack_id"], row["status"]) for row in statuses] == [("pet-care", "pending")]

    enable_payouts(client, publisher)  # a paid pack: its publisher must receive payouts
    approved = client.post("/v1/admin/packs/pet-care/versions/1.0.0/approve", headers=bearer(admin))
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"pack_id": "pet-care", "version": "1.0.0", "status": "approved"}
    assert review_audit(client) == [("pack.approved", account_id_of(client, admin), "pet-care")]
    assert client.get("/v1/packs/pet-care").json()["price"]["amount"] == 500

    offer = client.post("/v1/ask", json={"question": PET_QUESTION}, headers=bearer(customer))
    assert offer.json()["offer"]["pack_id"] == "pet-care", offer.json()
    assert "distemper, parvovirus" not in offer.text

    checkout = client.post("/v1/checkout", json={"pack_id": "pet-care"}, headers=bearer(customer))
    path = checkout.json()["checkout_url"].removeprefix("http://testserver.local")
    assert client.post(path, follow_redirects=False).status_code == 303
    assert client.post("/v1/packs/pet-care/activate", headers=bearer(customer)).status_code == 200
    answer = client.post("/v1/ask", json={"question": PET_QUESTION}, headers=bearer(customer))
    body = answer.json()
    assert body["offer"] is None
    assert body["citations"][0]["pack_id"] == "pet-care"
    assert body["citations"][0]["document_id"] == "dog-vaccines"
    assert "Ask a veterinarian about your own pet." in body["disclaimers"]


def test_rejected_version_stays_out_of_the_catalog(client, accounts, publisher_kit) -> None:
    publisher, admin = accounts.create("publisher"), accounts.create("admin")
    register_publisher_key(client, publisher, publisher_kit["public"], publisher_kit["private"])
    assert upload(client, publisher, publisher_kit["kpack"].read_bytes()).status_code == 201
    rejected = client.post(
        "/v1/admin/packs/pet-care/versions/1.0.0/reject",
        json={"reason": "documents lack sources"},
        headers=bearer(admin),
    )
    assert rejected.status_code == 200
    assert rejected.json() == {"pack_id": "pet-care", "version": "1.0.0", "status": "rejected"}
    assert review_audit(client) == [("pack.rejected", account_id_of(client, admin), "pet-care")]
    assert client.get("/v1/packs/pet-care").status_code == 404
    rows = client.get("/v1/publisher/packs", headers=bearer(publisher)).json()
    assert rows[0]["status"] == "rejected" and rows[0]["reason"] == "documents lack sources"


def test_publisher_listing_shows_no_server_paths(client, accounts, publisher_kit) -> None:  # type: ignore[no-untyped-def]
    publisher = accounts.create("publisher")
    register_publisher_key(client, publisher, publisher_kit["public"], publisher_kit["private"])
    assert upload(client, publisher, publisher_kit["kpack"].read_bytes()).status_code == 201
    listing = client.get("/v1/publisher/packs", headers=bearer(publisher))
    [row] = listing.json()
    assert set(row) == {
        "pack_id",
        "version",
        "status",
        "reason",
        "publisher",
        "pricing_model",
        "amount",
        "currency",
        "submitted_at",
        "reviewed_at",
    }
    data_dir = str(client.app.state.services.settings.data_dir)
    assert data_dir not in listing.text and ".kpack" not in listing.text
    schema = client.get("/schema/openapi.json").json()
    response = schema["paths"]["/v1/publisher/packs"]["get"]["responses"]["200"]
    assert "PackVersionOut" in json.dumps(response)


def _uploads_dir_files(client) -> list[Path]:  # type: ignore[no-untyped-def]
    uploads = client.app.state.services.settings.data_dir / "uploads"
    return sorted(uploads.iterdir()) if uploads.exists() else []


def _assert_rejected(response, status: int, problem_type: str, client) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(problem_type)
    assert _uploads_dir_files(client) == []  # nothing left behind
    assert client.get("/v1/packs/pet-care").status_code == 404


class TestUploadRejections:
    def test_bad_signature(self, client, accounts, publisher_kit) -> None:  # type: ignore[no-untyped-def]
        from tests.core.packs.helpers import flip_byte, rewrite_archive

        publisher = accounts.create("publisher")
        register_publisher_key(client, publisher, publisher_kit["public"], publisher_kit["private"])

        def change_one_byte(files: dict[str, bytes]) -> None:
            files["documents.jsonl"] = flip_byte(files["documents.jsonl"])

        tampered = rewrite_archive(
            publisher_kit["kpack"], publisher_kit["kpack"].with_suffix(".bad"), change_one_byte
        )
        _assert_rejected(
            upload(client, publisher, tampered.read_bytes()), 422, "checksum-mismatch", client
        )

    def test_unknown_key(self, client, accounts, publisher_kit) -> None:  # type: ignore[no-untyped-def]
        publisher = accounts.create("publisher")  # registers no key at all
        _assert_rejected(
            upload(client, publisher, publisher_kit["kpack"].read_bytes()),
            422,
            "signing-key-unknown",
            client,
        )

    def test_key_of_another_publisher(self, client, accounts, publisher_kit) -> None:  # type: ignore[no-untyped-def]
        owner, other = accounts.create("publisher"), accounts.create("publisher")
        register_publisher_key(client, owner, publisher_kit["public"], publisher_kit["private"])
        from core.packs.signing import generate_keypair

        _, other_public, _ = generate_keypair(publisher_kit["source"].parent / "other")
        register_publisher_key(client, other, other_public, other_public.with_suffix(".key"))
        _assert_rejected(
            upload(client, other, publisher_kit["kpack"].read_bytes()),
            422,
            "signing-key-unknown",
            client,
        )

    def test_malformed_archive(self, client, accounts, publisher_kit) -> None:  # type: ignore[no-untyped-def]
        publisher = accounts.create("publisher")
        register_publisher_key(client, publisher, publisher_kit["public"], publisher_kit["private"])
        response = upload(client, publisher, b"this is not a gzip tar archive at all" * 10)
        assert response.status_code == 422, response.text
        assert _uploads_dir_files(client) == []

    def test_oversized_upload(self, client, accounts) -> None:  # type: ignore[no-untyped-def]
        publisher = accounts.create("publisher")
        limit = client.app.state.services.settings.max_upload_bytes
        _assert_rejected(
            upload(client, publisher, b"\0" * (limit + 1)), 413, "archive-too-large", client
        )

    def test_duplicate_version(self, client, accounts, publisher_kit) -> None:  # type: ignore[no-untyped-def]
        publisher = accounts.create("publisher")
        register_publisher_key(client, publisher, publisher_kit["public"], publisher_kit["private"])
        body = publisher_kit["kpack"].read_bytes()
        assert upload(client, publisher, body).status_code == 201
        before = _uploads_dir_files(client)
        again = upload(client, publisher, body)
        assert again.status_code == 409, again.text
        assert _uploads_dir_files(client) == before


def _registered_keys(client, api_key: str) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    services = client.app.state.services
    return client.blocking_portal.call(
        services.accounts.publisher_public_keys, account_id_of(client, api_key)
    )


class TestKeyRegistration:
    @pytest.mark.parametrize("proof", ["missing", "for-another-account", "by-another-key"])
    def test_without_a_valid_proof_nothing_is_stored(  # type: ignore[no-untyped-def]
        self, client, accounts, publisher_kit, proof: str
    ) -> None:
        from core.packs.signing import generate_keypair

        publisher, other = accounts.create("publisher"), accounts.create("publisher")
        body: dict[str, str] = {"public_key": publisher_kit["public"].read_text()}
        if proof == "for-another-account":
            body = key_registration(
                publisher_kit["public"], publisher_kit["private"], account_id_of(client, other)
            )
        elif proof == "by-another-key":
            stranger, _, _ = generate_keypair(publisher_kit["source"].parent / "stranger")
            signed_by_stranger = key_registration(
                publisher_kit["public"], stranger, account_id_of(client, publisher)
            )
            body["signature"] = signed_by_stranger["signature"]
        refused = client.post("/v1/publisher/keys", json=body, headers=bearer(publisher))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/key-proof-invalid")
        assert "packdesk keys prove" in refused.json()["detail"]
        assert _registered_keys(client, publisher) == {}
        _assert_rejected(
            upload(client, publisher, publisher_kit["kpack"].read_bytes()),
            422,
            "signing-key-unknown",
            client,
        )

    def test_the_cli_proof_registers_the_key(  # type: ignore[no-untyped-def]
        self, client, cli, api_settings, accounts, publisher_kit
    ) -> None:
        publisher = accounts.create("publisher")
        account_id = account_id_of(client, publisher)
        signature = run_cli(
            cli,
            api_settings,
            "keys",
            "prove",
            "--key",
            publisher_kit["private"],
            "--account",
            account_id,
        ).strip()
        registered = client.post(
            "/v1/publisher/keys",
            json={"public_key": publisher_kit["public"].read_text(), "signature": signature},
            headers=bearer(publisher),
        )
        assert registered.status_code == 201, registered.text
        assert list(_registered_keys(client, publisher)) == [registered.json()["key_id"]]


def test_revoked_key_verifies_no_upload_and_is_no_longer_trusted(  # type: ignore[no-untyped-def]
    client, cli, api_settings, accounts, publisher_kit, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from core.ledger.models import AuditEntry

    publisher, admin, rival = (
        accounts.create("publisher"),
        accounts.create("admin"),
        accounts.create("publisher"),
    )
    key_id = register_publisher_key(
        client, publisher, publisher_kit["public"], publisher_kit["private"]
    ).json()["key_id"]
    assert upload(client, publisher, publisher_kit["kpack"].read_bytes()).status_code == 201
    enable_payouts(client, publisher)
    approved = client.post("/v1/admin/packs/pet-care/versions/1.0.0/approve", headers=bearer(admin))
    assert approved.status_code == 200, approved.text
    trusted = client.app.state.services.settings.trust_dir / f"publisher-{key_id}.pub"
    assert trusted.exists()

    for stranger, target in [(rival, key_id), (publisher, "0123456789abcdef")]:
        missing = client.delete(f"/v1/publisher/keys/{target}", headers=bearer(stranger))
        assert missing.status_code == 404, missing.text
        assert missing.json()["type"].endswith("/not-found")
    assert trusted.exists()

    revoked = client.delete(f"/v1/publisher/keys/{key_id}", headers=bearer(publisher))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"key_id": key_id, "status": "revoked"}
    assert not trusted.exists()
    assert _registered_keys(client, publisher) == {}

    again = client.delete(f"/v1/publisher/keys/{key_id}", headers=bearer(publisher))
    assert again.status_code == 409, again.text
    assert "revoked already" in again.json()["detail"]

    newer = tmp_path / "pet-care-1.1.0.kpack"
    source = write_pet_pack(tmp_path / "pet-src-1.1.0", version="1.1.0")
    run_cli(cli, api_settings, "pack", "build", source, "--key", publisher_kit["private"],
            "--out", newer)  # fmt: skip
    refused = upload(client, publisher, newer.read_bytes())
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/signing-key-unknown")

    async def revocations() -> list[tuple[str | None, dict[str, str]]]:
        async with client.app.state.services.db.read() as session:
            rows = await session.execute(
                select(AuditEntry.account_id, AuditEntry.detail).where(
                    AuditEntry.action == "publisher_key.revoked"
                )
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    audited = client.blocking_portal.call(revocations)
    assert audited == [(account_id_of(client, publisher), {"key_id": key_id})]
