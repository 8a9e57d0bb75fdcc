"""``POST /v1/ask``: the assistant, as JSON or server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.auth import require_scope
from api.schemas import AskRequest

STREAM_PIECE_WORDS = 8


class AskController(Controller):
    path = "/v1/ask"
    tags = ["assistant"]
    dependencies = {"principal": require_scope("customer")}

    @post("/", operation_id="ask", status_code=200)
    async def ask(
        self, request: Request, principal: Any, data: AskRequest
    ) -> Response[Any]:
        """Answer a question from the caller's active packs, or offer the pack that would."""
        services = request.app.state.services
        answer = await services.assistant.ask(principal.account_id, data.question)
        body = answer.to_dict()
        body["conversation_id"] = data.conversation_id
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
            }
        ),
    )
    yield ServerSentEventMessage(event="done", data="{}")
