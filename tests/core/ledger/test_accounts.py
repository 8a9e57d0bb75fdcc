"""Accounts, API keys, publisher keys and the append-only audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text

from core.errors import AuthenticationError, Conflict, KeyProofInvalid, NotFound, ValidationError
from core.ledger.accounts import AccountService
from core.ledger.db import Database
from core.ledger.models import Account, ApiKey, AuditEntry, PublisherKey
from core.packs.signing import (
    key_id_of,
    key_registration_challenge,
    prove_key_possession,
    public_key_pem,
)


async def count(db: Database, model: type) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_created_key_authenticates_and_is_stored_hashed(db, accounts: AccountService):
    account, api_key = await accounts.create_account("Ann", "publisher")
    principal = await accounts.authenticate(api_key)
    assert (principal.account_id, principal.scope) == (account.account_id, "publisher")
    assert api_key.startswith(f"pd_{principal.key_prefix}_")
    async with db.read() as session:
        stored = (await session.execute(select(ApiKey))).scalar_one()
    assert stored.prefix == principal.key_prefix
    assert api_key not in stored.key_hash and len(stored.key_hash) == 64


@pytest.mark.parametrize(
    "bad_key",
    [None, "", "not-a-key", "pd_short_x", "pd_0123456789ab_" + "A" * 43],
    ids=["missing", "empty", "malformed", "bad-prefix", "unknown"],
)
async def test_bad_keys_are_rejected(db, accounts: AccountService, bad_key):
    await accounts.create_account("Ann", "customer")
    with pytest.raises(AuthenticationError):
        await accounts.authenticate(bad_key)


async def test_key_with_right_prefix_but_wrong_secret_is_rejected(accounts: AccountService):
    _, api_key = await accounts.create_account("Ann", "customer")
    forged = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationError, match="unknown"):
        await accounts.authenticate(forged)


async def test_revoked_key_is_rejected(accounts: AccountService):
    _, api_key = await accounts.create_account("Ann", "customer")
    principal = await accounts.authenticate(api_key)
    await accounts.revoke_key(principal.key_prefix)
    with pytest.raises(AuthenticationError, match="revoked"):
        await accounts.authenticate(api_key)
    with pytest.raises(NotFound):
        await accounts.revoke_key("000000000000")


@pytest.mark.parametrize("name,scope", [("", "customer"), ("Ann", "root")], ids=["name", "scope"])
async def test_invalid_account_input_writes_nothing(db, accounts: AccountService, name, scope):
    with pytest.raises(ValidationError):
        await accounts.create_account(name, scope)
    assert await count(db, Account) == 0 and await count(db, ApiKey) == 0


async def test_publisher_keys_accept_pem_and_raw_and_reject_others(db, accounts: AccountService):
    publisher, _ = await accounts.create_account("Acme", "publisher")
    other, _ = await accounts.create_account("Other", "publisher")
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    proof = prove_key_possession(private, publisher.account_id)
    key_id = await accounts.register_publisher_key(publisher.account_id, pem, proof)
    assert await accounts.register_publisher_key(publisher.account_id, raw, proof) == key_id
    assert await accounts.publisher_public_keys(publisher.account_id) == {key_id: raw}
    with pytest.raises(Conflict):
        await accounts.register_publisher_key(
            other.account_id, pem, prove_key_possession(private, other.account_id)
        )
    with pytest.raises(ValidationError):
        await accounts.register_publisher_key(publisher.account_id, b"not a key", proof)
    assert await count(db, PublisherKey) == 1


def _bad_proof(case: str, private: Ed25519PrivateKey, account_id: str) -> str | None:
    match case:
        case "missing":
            return None
        case "empty":
            return "  "
        case "not-base64":
            return "not base64 at all!"
        case "wrong-length":
            return base64.b64encode(b"\x01" * 63).decode()
        case "for-another-account":
            return prove_key_possession(private, "acc_someone_else")
        case "by-another-key":
            return prove_key_possession(Ed25519PrivateKey.generate(), account_id)
        case "over-other-bytes":
            return base64.b64encode(private.sign(account_id.encode())).decode()
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "empty",
        "not-base64",
        "wrong-length",
        "for-another-account",
        "by-another-key",
        "over-other-bytes",
    ],
)
async def test_publisher_key_without_a_valid_proof_is_refused_and_stores_nothing(
    db, accounts: AccountService, case: str
):
    publisher, _ = await accounts.create_account("Mallory", "publisher")
    private = Ed25519PrivateKey.generate()
    pem = public_key_pem(private.public_key())
    audit_rows = await count(db, AuditEntry)
    with pytest.raises(KeyProofInvalid, match=key_id_of(private.public_key())) as refused:
        await accounts.register_publisher_key(
            publisher.account_id, pem, _bad_proof(case, private, publisher.account_id)
        )
    assert refused.value.code == "key-proof-invalid"
    assert "packdesk keys prove" in refused.value.message
    assert await count(db, PublisherKey) == 0
    assert await count(db, AuditEntry) == audit_rows
    assert await accounts.publisher_public_keys(publisher.account_id) == {}


def test_the_registration_challenge_is_the_documented_bytes():
    private = Ed25519PrivateKey.generate()
    proof = base64.b64decode(prove_key_possession(private, "acc_123"))
    challenge = b"packdesk publisher key registration\nacc_123"
    assert key_registration_challenge("acc_123") == challenge
    private.public_key().verify(proof, challenge)  # raises when it does not verify


async def test_revoked_publisher_key_verifies_nothing_and_stays_revoked(
    db, accounts: AccountService
):
    publisher, _ = await accounts.create_account("Acme", "publisher")
    other, _ = await accounts.create_account("Other", "publisher")
    kept, revoked = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    kept_id, revoked_id = [
        await accounts.register_publisher_key(
            publisher.account_id,
            public_key_pem(key.public_key()),
            prove_key_possession(key, publisher.account_id),
        )
        for key in (kept, revoked)
    ]

    for stranger, key_id in [(other.account_id, revoked_id), (publisher.account_id, "0" * 16)]:
        with pytest.raises(NotFound, match="no publisher key"):
            await accounts.revoke_publisher_key(stranger, key_id)
    with pytest.raises(NotFound):
        await accounts.revoke_publisher_key(publisher.account_id, "../x\x00")
    assert set(await accounts.publisher_public_keys(publisher.account_id)) == {kept_id, revoked_id}

    await accounts.revoke_publisher_key(publisher.account_id, revoked_id)

    assert set(await accounts.publisher_public_keys(publisher.account_id)) == {kept_id}
    async with db.read() as session:
        rows = (
            await session.execute(
                select(AuditEntry.account_id, AuditEntry.detail).where(
                    AuditEntry.action == "publisher_key.revoked"
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [(publisher.account_id, {"key_id": revoked_id})]
    with pytest.raises(Conflict, match="revoked already"):
        await accounts.revoke_publisher_key(publisher.account_id, revoked_id)
    with pytest.raises(Conflict, match="was revoked"):  # not registered again, even with proof
        await accounts.register_publisher_key(
            publisher.account_id,
            public_key_pem(revoked.public_key()),
            prove_key_possession(revoked, publisher.account_id),
        )
    assert set(await accounts.publisher_public_keys(publisher.account_id)) == {kept_id}


async def test_audit_log_is_append_only(db, accounts: AccountService):
    await accounts.create_account("Ann", "customer")
    assert await count(db, AuditEntry) == 2  # account.created, api_key.created
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            async with db.write() as session:
                await session.execute(text(statement))
    assert await count(db, AuditEntry) == 2


def test_cli_creates_account_and_revokes_key(settings):
    from api.cli import build_cli
    from api.context import CliContext

    cli = build_cli()
    runner = CliRunner()
    obj = CliContext(settings_override=settings)
    created = runner.invoke(
        cli, ["accounts", "create", "--name", "Ann", "--scope", "admin"], obj=obj
    )
    assert created.exit_code == 0, created.output
    api_key = created.output.split("store it now): ")[1].strip()
    prefix = api_key.split("_")[1]
    revoked = runner.invoke(cli, ["keys", "revoke", prefix], obj=obj)
    assert revoked.exit_code == 0, revoked.output

    import asyncio

    from core.ledger.db import create_database

    async def check() -> None:
        db = create_database(settings)
        try:
            with pytest.raises(AuthenticationError, match="revoked"):
                await AccountService(db).authenticate(api_key)
        finally:
            await db.dispose()

    asyncio.run(check())
    missing = runner.invoke(cli, ["keys", "revoke", "ffffffffffff"], obj=obj)
    assert missing.exit_code != 0
