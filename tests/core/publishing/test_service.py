"""PublishingService: uploads accepted as pending, every refusal storing nothing, and reviews."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from core.errors import (
    ArchiveCorrupt,
    ChecksumMismatch,
    Conflict,
    IndexMismatch,
    NotFound,
    PackDeskError,
    PackLoadFailed,
    PackNotFound,
    UnknownSigningKey,
    ValidationError,
)
from core.ledger.models import AuditEntry
from core.packs.signing import load_private_key, prove_key_possession
from core.publishing import EmbeddingIdentity, UploadAccepted
from tests.core.packs.helpers import flip_byte, rewrite_archive

from .conftest import Publishing, Signer, make_publishing


async def new_publisher(publishing: Publishing, *signers: Signer, name: str = "Acme") -> str:
    account, _ = await publishing.accounts.create_account(name, "publisher")
    for signer in signers:
        await publishing.accounts.register_publisher_key(
            account.account_id,
            signer.public.read_text(),
            prove_key_possession(load_private_key(signer.private), account.account_id),
        )
    return account.account_id


async def new_admin(publishing: Publishing) -> str:
    account, _ = await publishing.accounts.create_account("Ops", "admin")
    return account.account_id


def incoming(archive: Path, tmp_path: Path) -> Path:
    """A copy of ``archive`` where a controller would have streamed the request body."""
    path = tmp_path / "incoming" / f"{uuid.uuid4().hex}.part"
    path.parent.mkdir(exist_ok=True)
    shutil.copy(archive, path)
    return path


def stored(publishing: Publishing) -> list[Path]:
    uploads = publishing.service.uploads_dir
    return sorted(uploads.iterdir()) if uploads.exists() else []


async def review_audit(publishing: Publishing) -> list[tuple[str, str | None, str | None]]:
    async with publishing.catalog.db.read() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.account_id, AuditEntry.pack_id)
            .where(AuditEntry.action.in_(["pack.approved", "pack.rejected"]))
            .order_by(AuditEntry.entry_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def assert_refused(
    publishing: Publishing,
    account_id: str,
    upload: Path,
    error: type[PackDeskError],
    match: str,
    *,
    stored_before: list[Path] | None = None,
) -> None:
    """The upload is refused with ``error``, left where it was, and nothing is stored."""
    original = upload.read_bytes()
    versions_before = await publishing.catalog.list_versions(account_id)
    with pytest.raises(error, match=match):
        await publishing.service.accept_upload(account_id, upload)
    assert upload.read_bytes() == original
    assert stored(publishing) == (stored_before or [])
    assert await publishing.catalog.list_versions(account_id) == versions_before


async def test_accepted_upload_is_stored_and_pending(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    upload = incoming(signer.build(tmp_path), tmp_path)

    accepted = await publishing.service.accept_upload(publisher, upload)

    assert accepted == UploadAccepted("demo-pack", "1.0.0", "pending", signer.key_id)
    assert not upload.exists()  # moved, not copied
    [archive] = stored(publishing)
    assert archive.name.startswith("demo-pack-1.0.0-") and archive.suffix == ".kpack"
    [version] = await publishing.service.list_versions(publisher)
    assert (version.status, version.archive_path) == ("pending", str(archive))
    assert [entry.pack_id for entry in await publishing.catalog.catalog()] == []


class TestUploadRefusals:
    async def test_publisher_without_a_key(
        self, publishing: Publishing, signer: Signer, tmp_path: Path
    ) -> None:
        publisher = await new_publisher(publishing)
        upload = incoming(signer.build(tmp_path), tmp_path)
        await assert_refused(
            publishing, publisher, upload, UnknownSigningKey, "no registered signing key"
        )

    async def test_unknown_signing_key(
        self, publishing: Publishing, signer: Signer, other_signer: Signer, tmp_path: Path
    ) -> None:
        publisher = await new_publisher(publishing, other_signer)  # not the key that signed
        upload = incoming(signer.build(tmp_path), tmp_path)
        await assert_refused(publishing, publisher, upload, UnknownSigningKey, signer.key_id)

    async def test_key_of_another_publisher(
        self, publishing: Publishing, signer: Signer, other_signer: Signer, tmp_path: Path
    ) -> None:
        await new_publisher(publishing, signer, name="Owner")
        rival = await new_publisher(publishing, other_signer, name="Rival")
        upload = incoming(signer.build(tmp_path), tmp_path)
        await assert_refused(publishing, rival, upload, UnknownSigningKey, signer.key_id)

    async def test_index_built_with_another_model(
        self, db, settings, signer: Signer, tmp_path: Path
    ) -> None:
        publishing = make_publishing(
            db, settings, embedding=EmbeddingIdentity(model_id="other-model", dimension=768)
        )
        publisher = await new_publisher(publishing, signer)
        upload = incoming(signer.build(tmp_path), tmp_path)
        await assert_refused(publishing, publisher, upload, IndexMismatch, "other-model")

    async def test_bad_signature(self, publishing: Publishing, signer: Signer, tmp_path: Path):
        publisher = await new_publisher(publishing, signer)

        def change_one_byte(files: dict[str, bytes]) -> None:
            files["documents.jsonl"] = flip_byte(files["documents.jsonl"])

        tampered = rewrite_archive(signer.build(tmp_path), tmp_path / "bad.kpack", change_one_byte)
        upload = incoming(tampered, tmp_path)
        await assert_refused(publishing, publisher, upload, ChecksumMismatch, "documents.jsonl")

    async def test_malformed_archive(self, publishing: Publishing, signer: Signer, tmp_path: Path):
        publisher = await new_publisher(publishing, signer)
        garbage = tmp_path / "garbage.kpack"
        garbage.write_bytes(b"this is not a gzip tar archive at all" * 10)
        await assert_refused(
            publishing, publisher, incoming(garbage, tmp_path), ArchiveCorrupt, "gzip"
        )

    async def test_duplicate_version(
        self, publishing: Publishing, signer: Signer, tmp_path: Path
    ) -> None:
        publisher = await new_publisher(publishing, signer)
        archive = signer.build(tmp_path)
        await publishing.service.accept_upload(publisher, incoming(archive, tmp_path))
        before = stored(publishing)
        await assert_refused(
            publishing,
            publisher,
            incoming(archive, tmp_path),
            Conflict,
            "already exists",
            stored_before=before,
        )
        assert before[0].read_bytes() == archive.read_bytes()  # the first upload is intact

    async def test_pack_id_of_another_publisher(
        self, publishing: Publishing, signer: Signer, other_signer: Signer, tmp_path: Path
    ) -> None:
        owner = await new_publisher(publishing, signer, name="Owner")
        await publishing.service.accept_upload(owner, incoming(signer.build(tmp_path), tmp_path))
        before = stored(publishing)
        rival = await new_publisher(publishing, other_signer, name="Rival")
        upload = incoming(other_signer.build(tmp_path, version="2.0.0"), tmp_path)
        await assert_refused(
            publishing, rival, upload, Conflict, "another publisher", stored_before=before
        )

    async def test_version_that_cannot_be_ordered(
        self, publishing: Publishing, signer: Signer, tmp_path: Path
    ) -> None:
        publisher = await new_publisher(publishing, signer)
        upload = incoming(signer.build(tmp_path, version="1.0.0-x.7"), tmp_path)
        await assert_refused(publishing, publisher, upload, ValidationError, "1.0.0-x.7")


async def test_approve_installs_trusts_makes_live_prices_and_audits(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))

    approved = await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)

    assert approved.status == "approved"
    installed = publishing.store.get("demo-pack")
    assert (installed.manifest.version, installed.key_id) == ("1.0.0", signer.key_id)
    trust_files = [p.name for p in publishing.settings.trust_dir.iterdir()]
    assert trust_files == [f"publisher-{signer.key_id}.pub"]  # no partial file left
    assert publishing.made_live == [installed]
    assert publishing.billing.synced == [("demo-pack", "1.0.0")]
    assert (await publishing.catalog.get("demo-pack")).version == "1.0.0"
    assert await review_audit(publishing) == [("pack.approved", admin, "demo-pack")]


async def test_approve_needs_a_pending_version(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    service = publishing.service
    with pytest.raises(PackNotFound):
        await service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    await service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
    await service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    with pytest.raises(Conflict, match="approved, not pending"):
        await service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    await service.accept_upload(
        publisher, incoming(signer.build(tmp_path, version="1.1.0"), tmp_path)
    )
    await service.reject("demo-pack", "1.1.0", "no sources", admin_account_id=admin)
    with pytest.raises(Conflict, match="rejected, not pending"):
        await service.approve("demo-pack", "1.1.0", admin_account_id=admin)
    assert publishing.store.versions("demo-pack") == ["1.0.0"]
    assert len(publishing.made_live) == len(publishing.billing.synced) == 1


async def test_archive_altered_after_upload_stays_pending(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
    [archive] = stored(publishing)

    def change_one_byte(files: dict[str, bytes]) -> None:
        files["documents.jsonl"] = flip_byte(files["documents.jsonl"])

    rewrite_archive(archive, archive, change_one_byte)

    with pytest.raises(ChecksumMismatch):
        await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    [version] = await publishing.service.list_versions(publisher)
    assert version.status == "pending"
    assert publishing.store.installed() == []
    assert publishing.made_live == [] and publishing.billing.synced == []
    assert await review_audit(publishing) == []


async def test_reject_records_the_reason_and_the_admin(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))

    rejected = await publishing.service.reject(
        "demo-pack", "1.0.0", "documents lack sources", admin_account_id=admin
    )

    assert (rejected.status, rejected.reason) == ("rejected", "documents lack sources")
    [version] = await publishing.service.list_versions(publisher)
    assert (version.status, version.reason) == ("rejected", "documents lack sources")
    assert await review_audit(publishing) == [("pack.rejected", admin, "demo-pack")]
    assert publishing.store.installed() == [] and publishing.made_live == []


async def _no_index(installed) -> None:  # type: ignore[no-untyped-def]
    """What loading a pack without a search index does."""
    from core.errors import PackFormatError

    raise PackFormatError(f"{installed.root}/index/index.json does not exist: no search index")


async def test_approval_that_cannot_load_stays_pending_and_leaves_nothing(
    db, settings, signer: Signer, tmp_path: Path
) -> None:
    publishing = make_publishing(db, settings, load=_no_index)
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))

    with pytest.raises(PackLoadFailed, match="demo-pack version 1.0.0 .*no search index"):
        await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)

    [version] = await publishing.service.list_versions(publisher)
    assert version.status == "pending"
    assert publishing.store.versions("demo-pack") == []
    assert sorted(p.name for p in settings.packs_dir.iterdir()) == []  # no work dir either
    assert list(settings.trust_dir.iterdir()) == []  # the key trusted for it is untrusted
    assert await review_audit(publishing) == []
    assert publishing.billing.synced == [] and publishing.made_live == []
    assert [entry.pack_id for entry in await publishing.catalog.catalog()] == []


async def test_approval_undone_when_the_ledger_refuses_it(
    publishing: Publishing, signer: Signer, tmp_path: Path, monkeypatch
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))

    async def withdrawn_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Conflict("pack demo-pack version 1.0.0 was withdrawn")

    monkeypatch.setattr(publishing.catalog, "approve", withdrawn_meanwhile)
    with pytest.raises(Conflict, match="withdrawn"):
        await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    assert publishing.store.versions("demo-pack") == []
    assert publishing.changed == ["demo-pack"]  # what was served before is served again
    assert publishing.billing.synced == []


async def test_approving_an_older_version_keeps_the_newest_served(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    service = publishing.service
    for version in ("1.1.0", "1.0.0"):
        await service.accept_upload(
            publisher, incoming(signer.build(tmp_path, version=version), tmp_path)
        )
    await service.approve("demo-pack", "1.1.0", admin_account_id=admin)
    assert publishing.changed == []
    await service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    assert publishing.changed == ["demo-pack"]  # 1.1.0 is served again, not 1.0.0


async def test_withdraw_takes_a_version_out_and_uninstalls_it(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    service = publishing.service
    await service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
    await service.approve("demo-pack", "1.0.0", admin_account_id=admin)

    withdrawn = await service.withdraw("demo-pack", "1.0.0", admin_account_id=admin)

    assert withdrawn.status == "withdrawn"
    assert publishing.store.versions("demo-pack") == []
    assert publishing.changed == ["demo-pack"]
    assert [entry.pack_id for entry in await publishing.catalog.catalog()] == []
    async with publishing.catalog.db.read() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.account_id).where(
                AuditEntry.action == "pack.withdrawn"
            )
        )
        assert [tuple(row) for row in rows] == [("pack.withdrawn", admin)]
    with pytest.raises(Conflict, match="withdrawn"):
        await service.withdraw("demo-pack", "1.0.0", admin_account_id=admin)
    with pytest.raises(PackNotFound):
        await service.withdraw("demo-pack", "9.9.9", admin_account_id=admin)


async def test_withdraw_a_pending_version(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
    await publishing.service.withdraw("demo-pack", "1.0.0", admin_account_id=admin)
    [version] = await publishing.service.list_versions(publisher)
    assert version.status == "withdrawn"
    with pytest.raises(Conflict):
        await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)


async def test_rejecting_an_approved_version_uninstalls_it(
    publishing: Publishing, signer: Signer, tmp_path: Path
) -> None:
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
    await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    await publishing.service.reject("demo-pack", "1.0.0", "leaks data", admin_account_id=admin)
    assert publishing.store.versions("demo-pack") == []
    assert publishing.changed == ["demo-pack"]


def test_sweep_removes_what_a_crash_left_and_keeps_what_is_in_progress(
    publishing: Publishing,
) -> None:
    import os
    import time

    settings = publishing.settings
    uploads, packs, trust = publishing.service.uploads_dir, settings.packs_dir, settings.trust_dir
    for directory in (uploads, packs, trust):
        directory.mkdir(parents=True, exist_ok=True)
    old_upload, new_upload = uploads / "tmpold.part", uploads / "tmpnew.part"
    kept_archive = uploads / "demo-pack-1.0.0-abc.kpack"
    old_work, new_work = packs / ".tmp-old", packs / ".tmp-new"
    old_trust = trust / ".publisher-x.pub.abc.part"
    for path in (old_upload, new_upload, kept_archive, old_trust):
        path.write_bytes(b"x")
    for path in (old_work, new_work):
        (path / "pack").mkdir(parents=True)
        (path / "pack" / "LICENSE").write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in (old_upload, kept_archive, old_trust, old_work, old_work / "pack"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    os.utime(old_work / "pack" / "LICENSE", (an_hour_ago, an_hour_ago))

    removed = publishing.service.sweep_leftovers()

    assert sorted(removed) == sorted([old_upload, old_work, old_trust])
    assert new_upload.exists() and new_work.exists() and kept_archive.exists()
    assert not old_upload.exists() and not old_work.exists() and not old_trust.exists()


async def test_trust_file_is_written_aside_synced_and_renamed(
    publishing: Publishing, signer: Signer, tmp_path: Path, monkeypatch
) -> None:
    import os

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    publisher = await new_publisher(publishing, signer)
    admin = await new_admin(publishing)
    await publishing.service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
    synced.clear()
    await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)
    trusted = publishing.settings.trust_dir / f"publisher-{signer.key_id}.pub"
    assert trusted.read_bytes() == signer.public.read_bytes()
    assert len(synced) >= 2  # the file, then its directory (the rename)
    assert [p.name for p in publishing.settings.trust_dir.iterdir()] == [trusted.name]


PLATFORM_GREETING = {"name": "greeting", "platform": True, "examples": ["hi there", "hello"],
                     "reply_template": "Hello from the partner pack!"}


async def test_platform_intents_only_from_packs_the_operator_allows(
    db, settings, signer: Signer, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from core.errors import PlatformIntentNotAllowed

    refusing = make_publishing(db, settings)
    publisher = await new_publisher(refusing, signer)
    archive = signer.build(tmp_path, intents=[PLATFORM_GREETING])
    await assert_refused(refusing, publisher, incoming(archive, tmp_path),
                         PlatformIntentNotAllowed, "claim platform intents")

    allowing = make_publishing(db, settings, platform_pack_ids=frozenset({"demo-pack"}))
    accepted = await allowing.service.accept_upload(publisher, incoming(archive, tmp_path))
    assert (accepted.pack_id, accepted.status) == ("demo-pack", "pending")


class TestKeyRevocation:
    async def test_a_revoked_key_verifies_no_upload(
        self, publishing: Publishing, signer: Signer, tmp_path: Path
    ) -> None:
        publisher = await new_publisher(publishing, signer)
        await publishing.service.revoke_key(publisher, signer.key_id)
        upload = incoming(signer.build(tmp_path), tmp_path)
        await assert_refused(
            publishing, publisher, upload, UnknownSigningKey, "no registered signing key"
        )

    async def test_revocation_untrusts_installed_packs_and_blocks_pending_ones(
        self, publishing: Publishing, signer: Signer, other_signer: Signer, tmp_path: Path
    ) -> None:
        publisher = await new_publisher(publishing, signer, other_signer)
        admin = await new_admin(publishing)
        service = publishing.service
        await service.accept_upload(publisher, incoming(signer.build(tmp_path), tmp_path))
        await service.approve("demo-pack", "1.0.0", admin_account_id=admin)
        await service.accept_upload(
            publisher, incoming(signer.build(tmp_path, version="1.1.0"), tmp_path)
        )
        other = other_signer.build(tmp_path, id="other-pack")
        await service.accept_upload(publisher, incoming(other, tmp_path))
        await service.approve("other-pack", "1.0.0", admin_account_id=admin)
        trust_dir = publishing.settings.trust_dir
        assert (trust_dir / f"publisher-{signer.key_id}.pub").exists()

        await service.revoke_key(publisher, signer.key_id)

        assert sorted(p.name for p in trust_dir.iterdir()) == [
            f"publisher-{other_signer.key_id}.pub"  # the publisher's other key is kept
        ]
        with pytest.raises(UnknownSigningKey, match=signer.key_id):
            publishing.store.load_version("demo-pack", "1.0.0")  # the next load refuses it
        assert publishing.store.get("other-pack").key_id == other_signer.key_id
        with pytest.raises(UnknownSigningKey, match=signer.key_id):
            await service.approve("demo-pack", "1.1.0", admin_account_id=admin)
        versions = {v.version: v.status for v in await service.list_versions(publisher)}
        assert versions == {"1.0.0": "approved", "1.1.0": "pending"}
        assert publishing.store.versions("demo-pack") == ["1.0.0"]
        assert not (trust_dir / f"publisher-{signer.key_id}.pub").exists()

    async def test_only_the_owner_revokes_and_only_once(
        self, publishing: Publishing, signer: Signer, other_signer: Signer, tmp_path: Path
    ) -> None:
        owner = await new_publisher(publishing, signer, name="Owner")
        rival = await new_publisher(publishing, other_signer, name="Rival")
        admin = await new_admin(publishing)
        await publishing.service.accept_upload(owner, incoming(signer.build(tmp_path), tmp_path))
        await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)
        trusted = publishing.settings.trust_dir / f"publisher-{signer.key_id}.pub"

        with pytest.raises(NotFound, match=signer.key_id):
            await publishing.service.revoke_key(rival, signer.key_id)
        assert trusted.exists()
        assert signer.key_id in await publishing.accounts.publisher_public_keys(owner)

        await publishing.service.revoke_key(owner, signer.key_id)
        trusted.write_bytes(signer.public.read_bytes())  # as a crash after the ledger would
        with pytest.raises(Conflict, match="revoked already"):
            await publishing.service.revoke_key(owner, signer.key_id)
        assert not trusted.exists()  # a retry finishes the clean-up

    async def test_a_key_revoked_during_an_approval_is_not_trusted(
        self,
        publishing: Publishing,
        signer: Signer,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        publisher = await new_publisher(publishing, signer)
        admin = await new_admin(publishing)
        await publishing.service.accept_upload(
            publisher, incoming(signer.build(tmp_path), tmp_path)
        )
        accounts = publishing.accounts
        read_keys = accounts.publisher_public_keys
        calls = 0

        async def revoked_after_the_first_read(account_id: str) -> dict[str, bytes]:
            nonlocal calls
            calls += 1
            if calls == 2:  # the approval has read the keys and written the trust file
                await publishing.service.revoke_key(publisher, signer.key_id)
            return await read_keys(account_id)

        monkeypatch.setattr(accounts, "publisher_public_keys", revoked_after_the_first_read)
        with pytest.raises(UnknownSigningKey, match="revoked while"):
            await publishing.service.approve("demo-pack", "1.0.0", admin_account_id=admin)
        assert list(publishing.settings.trust_dir.iterdir()) == []
        assert publishing.store.installed() == []
        [version] = await publishing.service.list_versions(publisher)
        assert version.status == "pending"
