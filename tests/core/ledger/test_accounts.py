"""Accounts, API keys, publisher keys and the append-only audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text

from core.errors import AuthenticationError, Conflict, NotFound, ValidationError
from core.ledger.accounts import AccountService
from core.ledger.db import Database
from core.ledger.models import Account, ApiKey, AuditEntry, PublisherKey


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
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = await accounts.register_publisher_key(publisher.account_id, pem)
    assert await accounts.register_publisher_key(publisher.account_id, raw) == key_id
    assert await accounts.publisher_public_keys(publisher.account_id) == {key_id: raw}
    with pytest.raises(Conflict):
        await accounts.register_publisher_key(other.account_id, pem)
    with pytest.raises(ValidationError):
        await accounts.register_publisher_key(publisher.account_id, b"not a key")
    assert await count(db, PublisherKey) == 1


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
