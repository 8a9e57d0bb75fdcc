"""Feedback on answers: the asker says whether an answer helped and, if not, what was meant.

Customer key; only the caller's own turns (another account's turn is 404, like a missing one).
The comment is redacted before it is stored, encrypted like the turns, and deleted with its
turn (retention, ``DELETE /v1/me/data``).
"""

from __future__ import annotations

from datetime import datetime

from litestar import post
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import CustomerRoutes
from core.learning.feedback import MAX_COMMENT_CHARS, FeedbackService, turn_number
from core.learning.labels import MAX_LABEL_CHARS
from core.ledger.accounts import Principal


class FeedbackIn(BaseModel):
    """``helpful``; optionally the intent the question really had, and a comment."""

    model_config = ConfigDict(extra="forbid")
    helpful: bool
    correct_intent: str | None = Field(default=None, min_length=1, max_length=MAX_LABEL_CHARS)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)

    @field_validator("helpful", mode="before")
    @classmethod
    def _a_real_boolean(cls, value: object) -> object:
        # Litestar validates bodies leniently ("yes" would pass as True): an answer's verdict
        # that was not sent as true or false is not a verdict.
        if not isinstance(value, bool):
            raise ValueError(f"helpful must be true or false, got {value!r}")
        return value


class FeedbackOut(BaseModel):
    """The stored feedback; ``comment`` is the redacted text that was stored."""

    turn_id: int
    conversation_id: str
    helpful: bool
    correct_intent: str | None
    comment: str | None
    created_at: datetime


class FeedbackController(CustomerRoutes):
    path = "/v1/conversations"
    tags = ["learning"]

    @post(
        "/{conversation_id:str}/turns/{turn_id:str}/feedback",
        operation_id="giveFeedback",
        status_code=200,
    )
    async def give_feedback(
        self,
        principal: Principal,
        feedback: FeedbackService,
        conversation_id: str,
        turn_id: str,
        data: FeedbackIn,
    ) -> FeedbackOut:
        """Say whether the answer of one of your turns helped; a second call replaces the first.

        ``correct_intent`` is an existing intent label (``<pack_id>:<intent>``,
        ``platform:<intent>`` or ``out_of_scope``) or a new one of a served pack; the next
        ``packdesk intents retrain`` may learn from it (docs/intents.md)."""
        record = await feedback.give_feedback(
            principal.account_id,
            conversation_id,
            turn_number(turn_id),
            helpful=data.helpful,
            correct_intent=data.correct_intent,
            comment=data.comment,
        )
        return FeedbackOut(
            turn_id=record.turn_id,
            conversation_id=record.conversation_id,
            helpful=record.helpful,
            correct_intent=record.correct_intent,
            comment=record.comment,
            created_at=record.created_at,
        )
