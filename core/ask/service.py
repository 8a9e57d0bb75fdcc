"""One customer question, end to end: context, answer, redaction, storage.

The HTTP route maps a request to :meth:`AskService.ask` and its :class:`AskResult` back to a
response; everything else happens here, once:

0. the question's length is checked against ``max_query_chars``: an over-long question is
   refused before any model, redaction or storage work (and never reaches a micro-batcher,
   where it would fail the batch of every question waiting with it);
1. the conversation's earlier turns are read (this is where a foreign or unknown conversation
   id is refused, before any model runs);
2. the assistant answers from the original text (classification and retrieval need it as
   written) and decides sentiment and handoff;
3. question and answer are redacted, in one hop to a worker thread;
4. the redacted turn is encrypted and stored (group-committed with concurrent turns); the ids
   come back from the write, nothing is read back or decrypted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from core.assistant.answer import Answer
from core.assistant.assistant import Assistant, Detail, Offload
from core.assistant.handoff import TurnSignal
from core.conversations.service import ConversationService, NewTurn, TurnContext
from core.errors import ValidationError
from core.ledger.common import utcnow_
from core.privacy import RedactionResult, Redactor
from core.settings import Settings

DEFAULT_MAX_QUERY_CHARS: int = Settings.model_fields["max_query_chars"].default

AnswerView = Callable[[Answer], Awaitable[Answer]]
"""What the asker may see of an answer (a business's visitor: no offer, core/visitors)."""


@dataclass(frozen=True)
class AskResult:
    """The answer, where its turn was stored, and the question as it may be logged."""

    answer: Answer
    # None when the turn was not stored: the account deleted its data while it was answered.
    conversation_id: str | None
    turn_id: int | None
    redacted_question: str


class AskService:
    """Answers a question for an account and records the turn in its conversation.

    Args:
        assistant: the answering pipeline (classify, route, retrieve, compose, hand off).
        conversations: where turns are stored.
        redactor: the process's one redactor.
        max_query_chars: the longest question accepted (``Settings.max_query_chars``).
    """

    def __init__(
        self,
        *,
        assistant: Assistant,
        conversations: ConversationService,
        redactor: Redactor,
        max_query_chars: int = DEFAULT_MAX_QUERY_CHARS,
        offload: Offload = asyncio.to_thread,
    ) -> None:
        self._assistant = assistant
        self._conversations = conversations
        self._redactor = redactor
        self.max_query_chars = max_query_chars
        # Redaction leaves the event loop the way the assistant's search does (its lane).
        self._offload = offload

    async def ask(
        self,
        account_id: str,
        question: str,
        *,
        conversation_id: str | None = None,
        detail: Detail = "brief",
        view: AnswerView | None = None,
    ) -> AskResult:
        """Answer ``question`` for ``account_id`` and store the turn.

        Args:
            conversation_id: continue this conversation of the caller's (its earlier turns feed
                the handoff rules); None starts a new one.
            detail: how an extractive answer is composed (:data:`core.assistant.assistant.Detail`).
            view: applied to the answer before it is redacted and stored, so the stored turn is
                what the asker was shown.
        Raises:
            ValidationError: ``question`` is longer than ``max_query_chars`` (checked first).
            NotFound: ``conversation_id`` is not one of the caller's conversations.
        """
        if len(question) > self.max_query_chars:
            raise ValidationError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.max_query_chars}"
            )
        asked_at = utcnow_()
        previous: list[TurnSignal] = []
        if conversation_id is not None:
            context = await self._conversations.recent_turns(account_id, conversation_id)
            previous = [_signal(turn) for turn in context]
        answer = await self._assistant.ask(
            account_id, question, previous_turns=previous, detail=detail
        )
        if view is not None:
            answer = await view(answer)
        redacted_question, redacted_answer = await self._offload(
            self._redact, question, answer.text
        )
        turn = _new_turn(redacted_question, redacted_answer, answer, asked_at)
        stored = await self._conversations.record_turn(account_id, conversation_id, turn)
        return AskResult(
            answer=answer,
            conversation_id=stored.conversation_id if stored else None,
            turn_id=stored.turn_id if stored else None,
            redacted_question=redacted_question.text,
        )

    def _redact(self, question: str, answer: str) -> tuple[RedactionResult, RedactionResult]:
        # An answer can carry personal data too: a generator may echo the question.
        return self._redactor.redact(question), self._redactor.redact(answer)


def _signal(turn: TurnContext) -> TurnSignal:
    return TurnSignal.of(turn.intent_label, turn.intent_confidence, answered=not turn.out_of_scope)


def _new_turn(
    question: RedactionResult, answer_text: RedactionResult, answer: Answer, asked_at: datetime
) -> NewTurn:
    sentiment = answer.sentiment
    return NewTurn(
        question=question,
        answer=answer_text,
        intent_label=answer.intent.label,
        intent_confidence=float(answer.intent.confidence),
        sentiment_compound=sentiment.compound if sentiment else 0.0,
        sentiment_label=sentiment.label if sentiment else "neutral",
        out_of_scope=answer.out_of_scope,
        handoff=answer.handoff.handoff,
        handoff_reason=answer.handoff.reason,
        citations=list(answer.citations),
        asked_at=asked_at,
    )


__all__ = ["AskResult", "AskService"]
