"""Handoffs a person still has to pick up, and their resolution: what the message really was.

Customer key (the business's agents use their account's key); only the caller's own turns.
A resolved handoff becomes a labelled example for the next retrain; its note is redacted,
encrypted and deleted with its turn.
"""

from __future__ import annotations

from datetime import datetime

from litestar import get, post
from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CustomerRoutes
from api.controllers.conversations import TurnOut, turn_out
from core.learning.feedback import (
    MAX_COMMENT_CHARS,
    MAX_OPEN_HANDOFFS,
    FeedbackService,
    turn_number,
)
from core.learning.labels import MAX_LABEL_CHARS
from core.ledger.accounts import Principal
from core.ledger.entitlements import EntitlementService


class ResolveIn(BaseModel):
    """The intent the handed-off message really had, and an optional note."""

    model_config = ConfigDict(extra="forbid")
    intent: str = Field(min_length=1, max_length=MAX_LABEL_CHARS)
    note: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class ResolutionOut(BaseModel):
    handoff_id: int  # the handed-off turn's id
    conversation_id: str
    intent: str
    note: str | None  # the redacted text that was stored
    resolved_at: datetime


class HandoffsController(CustomerRoutes):
    path = "/v1/handoffs"
    tags = ["learning"]

    @get("/open", operation_id="listOpenHandoffs")
    async def open_handoffs(
        self,
        principal: Principal,
        feedback: FeedbackService,
        entitlements: EntitlementService,
        limit: int = Parameter(default=50, ge=1, le=MAX_OPEN_HANDOFFS),
    ) -> list[TurnOut]:
        """Your handed-off turns nobody has resolved yet, oldest first (answers citing a pack
        you no longer own withheld). A turn's ``turn_id`` is its handoff id."""
        turns = await feedback.open_handoffs(
            principal.account_id,
            readable_pack_ids=await entitlements.readable_pack_ids(
                principal.account_id, active_only=False
            ),
            limit=limit,
        )
        return [turn_out(turn) for turn in turns]

    @post("/{handoff_id:str}/resolve", operation_id="resolveHandoff", status_code=200)
    async def resolve(
        self, principal: Principal, feedback: FeedbackService, handoff_id: str, data: ResolveIn
    ) -> ResolutionOut:
        """Resolve one of your handoffs with the intent the message really had (resolving
        again replaces it). The intent is a label as for feedback's ``correct_intent``."""
        record = await feedback.resolve_handoff(
            principal.account_id, turn_number(handoff_id), intent=data.intent, note=data.note
        )
        return ResolutionOut(
            handoff_id=record.turn_id,
            conversation_id=record.conversation_id,
            intent=record.intent,
            note=record.note,
            resolved_at=record.resolved_at,
        )
