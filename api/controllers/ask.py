"""``POST /v1/ask``: the assistant, as JSON or server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, post
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.auth import CustomerRoutes
from api.logging import log_event
from api.schemas import AskRequest
from core.conversations.service import NewTurn

STREAM_PIECE_WORDS = 8


class AskController(CustomerRoutes):
    path = "/v1/ask"
    tags = ["assistant"]

    @post("/", operation_id="ask", status_code=200)
    async def ask(self, request: Request, principal: Any, data: AskRequest) -> Response[Any]:
        """Answer a question from the caller's active packs, or offer the pack that would.

        The assistant sees the question as written; the log line and the stored turn get only
        the redacted text. Without ``conversation_id`` a new conversation is started; with one,
        it must be the caller's (404 otherwise) and its earlier turns feed the handoff rules.
        """
        services = request.app.state.services
        account_id = principal.account_id
        redacted = (await asyncio.to_thread(services.redactor.redact, data.question)).text
        previous = []
        if data.conversation_id is not None:
            previous = await services.conversations.previous_turns(account_id, data.conversation_id)
        answer = await services.assistant.ask(account_id, data.question, previous_turns=previous)
        stored = await services.conversations.record_turn(
            account_id, data.conversation_id, NewTurn.from_answer(redacted, answer)
        )
        log_event(
            "ask",
            request_id=request.scope.get("state", {}).get("request_id"),
            account_id=account_id,
            conversation_id=stored.conversation_id,
            turn_id=stored.turn_id,
            question=redacted,
            intent=answer.intent.label,
            confidence=answer.intent.confidence,
            sentiment=answer.sentiment,
            handoff=answer.handoff.reason if answer.handoff.handoff else None,
        )
        body = answer.to_dict()
        body["conversation_id"] = stored.conversation_id
        body["turn_id"] = stored.turn_id
        if not data.stream:
            return Response(body)
        return ServerSentEvent(_events(body))


async def _events(body: dict[str, Any]) -> AsyncIterator[ServerSentEventMessage]:
    """intent, then the answer text in pieces, then citations (and offer), then done."""
    yield ServerSentEventMessage(event="intent", data=json.dumps(body["intent"]))
    words = body["text"].split(" ")
    for start in range(0, len(words), STREAM_PIECE_WORDS):
        piece = " ".join(words[start : start + STREAM_PIECE_WORDS])
        if start + STREAM_PIECE_WORDS < len(words):
            piece += " "
        yield ServerSentEventMessage(event="answer", data=json.dumps({"text": piece}))
    yield ServerSentEventMessage(
        event="citations",
        data=json.dumps(
            {
                "citations": body["citations"],
                "offer": body["offer"],
                "disclaimers": body["disclaimers"],
                "handoff": body["handoff"],
                "sentiment": body["sentiment"],
                "conversation_id": body["conversation_id"],
            }
        ),
    )
    yield ServerSentEventMessage(event="done", data="{}")
