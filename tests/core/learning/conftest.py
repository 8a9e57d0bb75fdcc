"""Learning fixtures: the ledger's ``db`` (SQLite, and PostgreSQL when reachable), a feedback
service over real stored turns, and small real intent models trained once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.conversations.service import ConversationService, NewTurn
from core.learning.feedback import FeedbackService
from core.learning.labels import LabelSpace
from core.ledger.accounts import AccountService
from core.ledger.db import Database
from core.privacy import Redactor, TextCipher, generate_key
from tests.conftest import train_platform_model
from tests.core.ledger.conftest import db  # noqa: F401  (re-exported fixture)

LABELS = LabelSpace.of(
    {"platform:greeting", "platform:thanks", "platform:goodbye", "platform:human_agent",
     "platform:complaint", "finance:card_lost"},
    {"finance"},
)


@pytest.fixture(scope="session")
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def cipher() -> TextCipher:
    return TextCipher([generate_key()])


@pytest.fixture
def conversations(db: Database, cipher: TextCipher) -> ConversationService:  # noqa: F811
    return ConversationService(db, cipher, retention_days=30)


@pytest.fixture
def feedback(
    db: Database, cipher: TextCipher, redactor: Redactor,  # noqa: F811
    conversations: ConversationService,
) -> FeedbackService:
    return FeedbackService(db, cipher, redactor, conversations, lambda: LABELS)


@pytest.fixture
async def new_account(db: Database) -> Any:  # noqa: F811
    async def create(name: str = "customer") -> str:
        info, _ = await AccountService(db).create_account(name, "customer")
        return info.account_id

    return create


async def store_turn(
    conversations: ConversationService, redactor: Redactor, account_id: str, question: str,
    *, intent: str = "out_of_scope", handoff: bool = False, conversation_id: str | None = None,
) -> Any:
    """Store one turn as /v1/ask does: the question and answer redacted first."""
    stored = await conversations.record_turn(account_id, conversation_id, NewTurn(
        question=redactor.redact(question),
        answer=redactor.redact("An answer."),
        intent_label=intent,
        intent_confidence=0.9 if intent != "out_of_scope" else 0.1,
        sentiment_compound=0.0,
        sentiment_label="neutral",
        out_of_scope=intent == "out_of_scope",
        handoff=handoff,
        handoff_reason="human_agent" if handoff else None,
    ))
    assert stored is not None
    return stored


@pytest.fixture(scope="session")
def platform_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real fine-tuned model of the five platform intents (trained in seconds)."""
    return train_platform_model(tmp_path_factory.mktemp("learning-model") / "model")


@pytest.fixture(scope="session")
def platform_head(tmp_path_factory: pytest.TempPathFactory, shared_embedder: Any) -> Path:
    """The same intents as an intent head over the bundled embedder (what `prepare` makes)."""
    return train_platform_model(tmp_path_factory.mktemp("learning-head") / "model",
                                embedder=shared_embedder)
