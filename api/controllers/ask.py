"""``POST /v1/ask``: the assistant, as JSON or server-sent events.

The use case is :class:`core.ask.AskService`; this module only maps HTTP to it and back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import cast

from litestar import Request, Response, post
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.auth import CustomerRoutes
from api.dependencies import services_of
from api.logging import log_event
from api.schemas import AnswerPiece, AskRequest, AskResponse, AskStreamSummary
from core.ask import AskResult, AskService
from core.ledger.accounts import Principal

STREAM_PIECE_WORDS = 8

ASK_DESCRIPTION = """\
Answer a question from the caller's active packs, or offer the pack that would.

The assistant sees the question as written; the log line and the stored turn get only the
redacted text. Without `conversation_id` a new conversation is started; with one, it must be
the caller's (404 otherwise) and its earlier turns feed the handoff rules.

With `"stream": true` the response is `text/event-stream` instead of JSON, with these events
in this order:

- `intent`: `IntentOut` (`label`, `confidence`);
- `answer`, repeated: `AnswerPiece` (`text`), the next piece of the answer text;
- `citations`: `AskStreamSummary` (`citations`, `offer`, `disclaimers`, `handoff`,
  `sentiment`, `conversation_id`);
- `done`: `{}`.
"""


class AskController(CustomerRoutes):
    path = "/v1/ask"
    tags = ["assistant"]

    @post(
        "/",
        operation_id="ask",
        status_code=200,
        description=ASK_DESCRIPTION,
        response_description="The answer (JSON), or its server-sent events when streaming",
    )
    async def ask(
        self, request: Request, principal: Principal, data: AskRequest
    ) -> Response[AskResponse]:
        # The service from the app state, not as a second injected dependency: Litestar
        # resolves two sibling dependencies in an anyio task group, about a tenth of this
        # route's event-loop time under load (litestar-org/litestar#4563).
        ask_service: AskService = services_of(request.app.state).ask
        result = await ask_service.ask(
            principal.account_id,
            data.question,
            conversation_id=data.conversation_id,
            detail=data.detail,
        )
        _log(request, principal, result)
        body = ask_response(result)
        if data.stream:
            # The same answer as events; the annotation keeps AskResponse in the OpenAPI
            # document, and the description documents the events.
            return cast(Response[AskResponse], ServerSentEvent(_events(body)))
        return Response(body)


def ask_response(result: AskResult) -> AskResponse:
    # The answer's dataclasses read as attributes: dataclasses.asdict deep-copied every
    # citation first, a few percent of this route's event-loop time under load.
    return AskResponse.model_validate(
        {
            **vars(result.answer),
            "conversation_id": result.conversation_id,
            "turn_id": result.turn_id,
        },
        from_attributes=True,
    )


def _log(request: Request, principal: Principal, result: AskResult) -> None:
    answer = result.answer
    log_event(
        "ask",
        request_id=request.scope.get("state", {}).get("request_id"),
        account_id=principal.account_id,
        conversation_id=result.conversation_id,
        turn_id=result.turn_id,
        question=result.redacted_question,
        intent=answer.intent.label,
        confidence=answer.intent.confidence,
        sentiment=asdict(answer.sentiment) if answer.sentiment else None,
        handoff=answer.handoff.reason if answer.handoff.handoff else None,
    )


async def _events(body: AskResponse) -> AsyncIterator[ServerSentEventMessage]:
    """intent, then the answer text in pieces, then citations (and offer), then done."""
    yield ServerSentEventMessage(event="intent", data=body.intent.model_dump_json())
    words = body.text.split(" ")
    for start in range(0, len(words), STREAM_PIECE_WORDS):
        piece = " ".join(words[start : start + STREAM_PIECE_WORDS])
        if start + STREAM_PIECE_WORDS < len(words):
            piece += " "
        yield ServerSentEventMessage(event="answer", data=AnswerPiece(text=piece).model_dump_json())
    summary = AskStreamSummary(
        citations=body.citations,
        offer=body.offer,
        disclaimers=body.disclaimers,
        handoff=body.handoff,
        sentiment=body.sentiment,
        conversation_id=body.conversation_id,
    )
    yield ServerSentEventMessage(event="citations", data=summary.model_dump_json())
    yield ServerSentEventMessage(event="done", data="{}")
