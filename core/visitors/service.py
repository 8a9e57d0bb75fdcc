"""Visitor mode: a business's visitor asks through the widget, and never sees an offer.

The answer comes from the same use case as the business's own questions
(:class:`core.ask.AskService`), viewed for a visitor before it is stored: an offer to buy or
activate a pack becomes the assistant's out-of-scope reply, and the pack it named is recorded as
missed demand for the business (with the redacted question as an example), which
``GET /v1/insights`` shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.ask import AskService
from core.assistant.answer import Answer
from core.conversations.models import DataDeletion
from core.errors import NotFound, ValidationError
from core.ledger.common import as_utc
from core.ledger.db import Database
from core.ledger.models import utcnow
from core.packs.manifest import Manifest
from core.privacy import TextCipher
from core.visitors.keys import WidgetPrincipal
from core.visitors.models import VisitorQuestion

# What the widget keeps in the page's storage to continue its own conversation: random text.
VISITOR_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

ActivePacks = Callable[[str], Awaitable[set[str]]]


@dataclass(frozen=True)
class VisitorAnswer:
    """What a visitor is shown: never an offer."""

    answer: Answer
    conversation_id: str | None
    turn_id: int | None
    missed_pack_id: str | None


def visitor_hash(visitor_token: str) -> str:
    return hashlib.sha256(visitor_token.encode("ascii")).hexdigest()


def _token_hash(visitor_token: str) -> str:
    if not VISITOR_TOKEN_PATTERN.match(visitor_token):
        raise ValidationError("visitor must be 16 to 64 characters of [A-Za-z0-9_-]")
    return visitor_hash(visitor_token)


def needed_pack(answer: Answer) -> str | None:
    """The pack an answer says the asker lacks: its offer's, or (when the handoff detector
    replaced the offer by the follow-up message) the pack it was routed to without content."""
    if answer.offer is not None:
        return answer.offer.pack_id
    if answer.routed_pack_id is not None and not answer.citations and answer.composed_by == "none":
        return answer.routed_pack_id
    return None


def out_of_scope_text(active_names: list[str]) -> str:
    """The reply a visitor gets instead of an offer (the assistant's own out-of-scope wording)."""
    names = sorted(active_names)
    if not names:
        return "Sorry, I can't help with that here, and I have no topics to answer yet."
    topics = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return (
        f"Sorry, I can't help with that here. I can answer questions about {topics}: feel free "
        "to ask about those."
    )


class VisitorService:
    """Answers a visitor's question for the business behind a widget key.

    Args:
        ask: the ask use case (the same as ``POST /v1/ask``).
        db: where visitor questions are recorded.
        cipher: encrypts the redacted example questions (as conversation text is).
        packs: the routable catalog (names for the out-of-scope reply).
        active_packs: ``account_id -> ids of its active packs``.
        retention_days: example questions older than this are erased (as stored turns are);
            the counts stay, they hold no visitor text.
    """

    def __init__(
        self,
        *,
        ask: AskService,
        db: Database,
        cipher: TextCipher,
        packs: Mapping[str, Manifest],
        active_packs: ActivePacks,
        retention_days: int = 30,
    ) -> None:
        self._retention = timedelta(days=retention_days)
        self._ask = ask
        self._db = db
        self._cipher = cipher
        self._packs = packs
        self._active_packs = active_packs

    async def ask(
        self,
        principal: WidgetPrincipal,
        question: str,
        *,
        visitor_token: str,
        conversation_id: str | None = None,
    ) -> VisitorAnswer:
        """Answer ``question`` for the business, as its visitor sees it, and record it.

        Raises:
            ValidationError: a malformed visitor token, or the question is too long.
            NotFound: ``conversation_id`` is not one this visitor started with this key.
        """
        token_hash = _token_hash(visitor_token)
        if conversation_id is not None:
            await self.check_conversation(principal, visitor_token, conversation_id)
        missed: list[str] = []

        async def for_visitor(answer: Answer) -> Answer:
            pack_id = needed_pack(answer)
            if pack_id is None:
                return answer
            missed.append(pack_id)
            if answer.handoff.handoff:
                return replace(answer, offer=None)  # already the follow-up message
            active = await self._active_packs(principal.account_id)
            names = [self._packs[p].name for p in active if p in self._packs]
            return replace(
                answer,
                text=out_of_scope_text(names),
                offer=None,
                routed_pack_id=None,
                out_of_scope=True,
                citations=[],
                disclaimers=[],
            )

        result = await self._ask.ask(
            principal.account_id, question, conversation_id=conversation_id, view=for_visitor
        )
        missed_pack = missed[0] if missed else None
        example = self._cipher.encrypt(result.redacted_question) if missed_pack else None
        async with self._db.write(changes_access=False) as session:
            await self._erase_old_examples(session, principal.account_id)
            session.add(
                VisitorQuestion(
                    account_id=principal.account_id,
                    widget_key=principal.widget_key,
                    asked_at=utcnow(),
                    intent_label=result.answer.intent.label,
                    handoff=result.answer.handoff.handoff,
                    missed_pack_id=missed_pack,
                    example_token=example,
                    conversation_id=result.conversation_id,
                    visitor_hash=token_hash,
                )
            )
        return VisitorAnswer(
            answer=result.answer,
            conversation_id=result.conversation_id,
            turn_id=result.turn_id,
            missed_pack_id=missed_pack,
        )

    async def _erase_old_examples(self, session: AsyncSession, account_id: str) -> None:
        """Erase the account's example questions past retention or from before its last
        ``DELETE /v1/me/data`` (insights never show those either)."""
        cutoff = utcnow() - self._retention
        deleted_at = await session.scalar(
            select(DataDeletion.deleted_at).where(DataDeletion.account_id == account_id)
        )
        if deleted_at is not None:
            cutoff = max(cutoff, as_utc(deleted_at) or cutoff)
        await session.execute(
            update(VisitorQuestion)
            .where(
                VisitorQuestion.account_id == account_id,
                VisitorQuestion.asked_at < cutoff,
                VisitorQuestion.example_token.is_not(None),
            )
            .values(example_token=None)
        )

    async def check_conversation(
        self, principal: WidgetPrincipal, visitor_token: str, conversation_id: str
    ) -> None:
        """Refuse a conversation this visitor did not start with this key.

        Raises:
            ValidationError: a malformed visitor token.
            NotFound: not one of this visitor's conversations (another's looks the same).
        """
        token_hash = _token_hash(visitor_token)
        async with self._db.read() as session:
            found = await session.scalar(
                select(VisitorQuestion.question_id)
                .where(
                    VisitorQuestion.conversation_id == conversation_id,
                    VisitorQuestion.widget_key == principal.widget_key,
                    VisitorQuestion.visitor_hash == token_hash,
                )
                .limit(1)
            )
        if found is None:
            raise NotFound(f"no conversation {conversation_id!r} of this visitor")
