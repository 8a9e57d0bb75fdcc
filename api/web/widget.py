"""The widget for a business's visitors: ``/widget.js`` and the route it asks through.

``POST /v1/widget/{widget_key}/ask`` is called cross-origin from the business's pages. The key
is in the path so that the CORS preflight (which carries no body and no credentials) can be
answered for that key's origins only. The answer is streamed as server-sent events; it never
carries an offer (visitor mode, :mod:`core.visitors.service`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import TooManyRequestsException
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from pydantic import BaseModel, Field, field_validator

from api.auth import client_identity
from api.dependencies import services_of
from api.rate_limit import RATE_LIMIT_STORE, RedisRateLimitStore
from api.schemas import AnswerPiece, CitationOut
from api.web.services import WebServices
from api.web.sessions import page_opt
from core.learning.feedback import FeedbackService
from core.visitors import VisitorAnswer, WidgetPrincipal

STATIC_DIR = Path(__file__).parent / "static"
STREAM_PIECE_WORDS = 6
PREFLIGHT_MAX_AGE = "600"

WIDGET_ASK_DESCRIPTION = """\
Answer a visitor's question for the business that owns the publishable widget key (`pk_...`).

Auth: the widget key in the path, used from a page of one of its allowed origins (the browser's
`Origin` header; 403 `origin-not-allowed` otherwise). The key can only ask. Rate limited per
visitor (client address) and per key (429). The answer never carries an offer: a question that
needs a pack the business lacks gets the out-of-scope reply and is counted for the business
(`GET /v1/insights`).

The response is `text/event-stream`: `answer` events (`{"text"}` pieces), then `summary`
(`citations`, `disclaimers`, `handoff`, `conversation_id`), then `done`.
"""


class WidgetAskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    visitor: str = Field(
        min_length=16,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="a random token the widget keeps in the page's storage",
    )
    conversation_id: str | None = Field(default=None, max_length=40)


class WidgetSummary(BaseModel):
    citations: list[CitationOut]
    disclaimers: list[str]
    handoff: bool
    conversation_id: str | None
    turn_id: int | None  # for feedback on this answer


class WidgetFeedbackRequest(BaseModel):
    visitor: str = Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    conversation_id: str = Field(min_length=1, max_length=40)
    turn_id: int = Field(ge=1, le=2**53)
    helpful: bool

    @field_validator("helpful", mode="before")
    @classmethod
    def _a_real_boolean(cls, value: object) -> object:
        # Litestar validates bodies leniently ("yes" would pass as True).
        if not isinstance(value, bool):
            raise ValueError(f"helpful must be true or false, got {value!r}")
        return value


class WidgetFeedbackOut(BaseModel):
    turn_id: int
    helpful: bool


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
    }


async def _within_limit(request: Request, name: str, limit: int) -> bool:
    """A fixed one-minute window per ``name`` in the app's rate-limit store (shared by every
    process when that store is)."""
    store = request.app.stores.get(RATE_LIMIT_STORE)
    if isinstance(store, RedisRateLimitStore):
        # Shared by every process: count in one atomic step (a get then a set would let
        # concurrent questions from several workers read the same count).
        count, _ = await store.hit(f"widget:{name}", 60)
        return count <= limit
    # The in-memory store never suspends between this get and set: atomic on the event loop.
    key = f"widget:{name}:{int(time.time() // 60)}"
    count = int((await store.get(key)) or 0) + 1
    await store.set(key, str(count).encode(), expires_in=120)
    return count <= limit


class WidgetScriptController(Controller):
    opt = page_opt("public")
    include_in_schema = False

    @get("/widget.js", media_type="application/javascript", cache_control=None)
    async def script(self) -> Response[bytes]:
        """The embeddable widget (plain JavaScript, no build step)."""
        body = (STATIC_DIR / "widget.js").read_bytes()
        return Response(
            body,
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )


async def preflight(request: Request) -> Response[None] | None:
    """The CORS preflight of the widget route, allowed only for the key's origins.

    Litestar answers OPTIONS itself with a handler it adds to the route; that handler belongs
    to this controller, so this hook (which runs first, and whose response wins) is where the
    preflight is answered.
    """
    if request.method != "OPTIONS":
        return None
    from api.web.services import web_of

    origin = request.headers.get("origin")
    await web_of(request.app.state).widget_keys.authenticate(
        str(request.path_params.get("widget_key", "")), origin
    )
    assert origin is not None
    headers = cors_headers(origin)
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
    )
    return Response(None, status_code=204, headers=headers)


class WidgetController(Controller):
    path = "/v1/widget"
    tags = ["widget"]
    opt = {"auth": "widget-key"}  # the pk_ key in the path, from one of its allowed origins
    before_request = preflight  # type: ignore[assignment]

    @post(
        "/{widget_key:str}/ask",
        operation_id="widgetAsk",
        status_code=200,
        description=WIDGET_ASK_DESCRIPTION,
        response_description="server-sent events: answer pieces, summary, done",
    )
    async def ask(
        self,
        request: Request,
        web: WebServices,
        widget_key: str,
        data: WidgetAskRequest,
    ) -> ServerSentEvent:
        principal, origin = await _allowed(request, web, widget_key)
        answered = await web.visitors.ask(
            principal,
            data.question,
            visitor_token=data.visitor,
            conversation_id=data.conversation_id,
        )
        return ServerSentEvent(_events(answered, principal), headers=cors_headers(origin))

    @post(
        "/{widget_key:str}/feedback",
        operation_id="widgetFeedback",
        status_code=200,
        description="A visitor says whether an answer it got through the widget helped (the "
        "helpful / not helpful buttons): only for a turn of a conversation this visitor token "
        "started with this key (404 otherwise). Same origin rules and limits as asking.",
    )
    async def feedback(
        self,
        request: Request,
        web: WebServices,
        feedback: FeedbackService,
        widget_key: str,
        data: WidgetFeedbackRequest,
    ) -> Response[WidgetFeedbackOut]:
        principal, origin = await _allowed(request, web, widget_key)
        await web.visitors.check_conversation(principal, data.visitor, data.conversation_id)
        record = await feedback.give_feedback(
            principal.account_id, data.conversation_id, data.turn_id, helpful=data.helpful
        )
        return Response(
            WidgetFeedbackOut(turn_id=record.turn_id, helpful=record.helpful),
            headers=cors_headers(origin),
        )


async def _allowed(request: Request, web: WebServices, widget_key: str) -> tuple[Any, str]:
    """The key's business and the calling origin, or the refusal; then the per-visitor and
    per-key limits."""
    origin = request.headers.get("origin")
    principal = await web.widget_keys.authenticate(widget_key, origin)
    assert origin is not None
    settings = services_of(request.app.state).settings
    visitor = client_identity(request)
    if not await _within_limit(
        request,
        f"visitor:{widget_key}:{visitor}",
        settings.widget_questions_per_minute_per_visitor,
    ) or not await _within_limit(
        request, f"key:{widget_key}", settings.widget_questions_per_minute_per_key
    ):
        raise TooManyRequestsException(
            "too many questions from this visitor or for this widget key: wait a minute",
            headers={"Retry-After": "60", **cors_headers(origin)},
        )
    return principal, origin


async def _events(
    answered: VisitorAnswer, _principal: WidgetPrincipal
) -> AsyncIterator[ServerSentEventMessage]:
    answer = answered.answer
    words = answer.text.split(" ")
    for start in range(0, len(words), STREAM_PIECE_WORDS):
        piece = " ".join(words[start : start + STREAM_PIECE_WORDS])
        if start + STREAM_PIECE_WORDS < len(words):
            piece += " "
        yield ServerSentEventMessage(event="answer", data=AnswerPiece(text=piece).model_dump_json())
    summary = WidgetSummary(
        citations=[CitationOut.model_validate(c.to_dict()) for c in answer.citations],
        disclaimers=list(answer.disclaimers),
        handoff=answer.handoff.handoff,
        conversation_id=answered.conversation_id,
        turn_id=answered.turn_id,
    )
    yield ServerSentEventMessage(event="summary", data=summary.model_dump_json())
    yield ServerSentEventMessage(event="done", data="{}")
