"""Conversation fixtures: the ledger's ``db`` (SQLite, and PostgreSQL when reachable), a cipher
with a fresh key and two customer accounts."""

from __future__ import annotations

import pytest

from core.conversations.service import ConversationService
from core.ledger.accounts import AccountService
from core.ledger.db import Database
from core.privacy import TextCipher, generate_key
from tests.core.ledger.conftest import db  # noqa: F401  (re-exported fixture)

RETENTION_DAYS = 30


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def service(db: Database, key: str) -> ConversationService:  # noqa: F811
    return ConversationService(db, TextCipher([key]), retention_days=RETENTION_DAYS)


@pytest.fixture
async def account_a(db: Database) -> str:  # noqa: F811
    info, _ = await AccountService(db).create_account("customer a", "customer")
    return info.account_id


@pytest.fixture
async def account_b(db: Database) -> str:  # noqa: F811
    info, _ = await AccountService(db).create_account("customer b", "customer")
    return info.account_id
