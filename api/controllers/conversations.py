"""Customer privacy routes: conversation history, handoffs to pick up, deleting one's data.

Every route serves the caller's own data only. Another account's conversation is answered with
404, exactly like one that does not exist, so conversation ids do not leak.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from litestar import delete, get
from litestar.params import Parameter
from pydantic import BaseModel

from api.auth import CustomerRoutes
from api.schemas import CitationOut, HandoffOut, IntentOut, SentimentOut
from core.conversations.service import MAX_HANDOFFS, ConversationService, StoredTurn
from core.ledger.accounts import Principal
from core.ledger.entitlements import EntitlementService


class TurnOut(BaseModel):
    """One stored turn. ``question`` and ``answer`` are the redacted text that was stored."""

    turn_id: int
    conversation_id: str
    created_at: datetime
    question: str
    answer: str
    intent: IntentOut
    out_of_scope: bool
    citations: list[CitationOut]
    sentiment: SentimentOut
    handoff: HandoffOut


class ConversationOut(BaseModel):
    conversation_id: str
    created_at: datetime
    turns: list[TurnOut]


class DeletedDataOut(BaseModel):
    conversations: int
    turns: int


def turn_out(turn: StoredTurn) -> TurnOut:
    return TurnOut(
        turn_id=turn.turn_id,
        conversation_id=turn.conversation_id,
        created_at=turn.created_at,
        question=turn.question,
        answer=turn.answer,
        intent=IntentOut(label=turn.intent_label, confidence=turn.intent_confidence),
        out_of_scope=turn.out_of_scope,
        citations=[CitationOut.model_validate(asdict(c)) for c in turn.citations],
        sentiment=SentimentOut(compound=turn.sentiment_compound, label=turn.sentiment_label),
        handoff=HandoffOut(handoff=turn.handoff, reason=turn.handoff_reason),
    )


class ConversationsController(CustomerRoutes):
    path = "/v1"
    tags = ["privacy"]

    @get("/conversations/{conversation_id:str}", operation_id="getConversation")
    async def conversation(
        self,
        principal: Principal,
        conversations: ConversationService,
        entitlements: EntitlementService,
        conversation_id: str,
    ) -> ConversationOut:
        """The caller's conversation: redacted turns with intents, citations and handoff flags.

        An answer that cites a pack the caller no longer owns (refunded, revoked, expired) is
        withheld."""
        history = await conversations.history(
            principal.account_id,
            conversation_id,
            readable_pack_ids=await _owned(entitlements, principal),
        )
        return ConversationOut(
            conversation_id=history.conversation_id,
            created_at=history.created_at,
            turns=[turn_out(turn) for turn in history.turns],
        )

    @get("/handoffs", operation_id="listHandoffs")
    async def handoffs(
        self,
        principal: Principal,
        conversations: ConversationService,
        entitlements: EntitlementService,
        limit: int = Parameter(default=50, ge=1, le=MAX_HANDOFFS),
    ) -> list[TurnOut]:
        """The caller's turns flagged for a human agent, newest first (answers citing a pack
        the caller no longer owns withheld)."""
        turns = await conversations.handoffs(
            principal.account_id,
            readable_pack_ids=await _owned(entitlements, principal),
            limit=limit,
        )
        return [turn_out(turn) for turn in turns]

    @delete("/me/data", operation_id="deleteMyData", status_code=200)
    async def delete_my_data(
        self, principal: Principal, conversations: ConversationService
    ) -> DeletedDataOut:
        """Delete all of the caller's conversations and turns now; returns what was deleted."""
        deleted = await conversations.delete_account_data(principal.account_id)
        return DeletedDataOut(conversations=deleted.conversations, turns=deleted.turns)


async def _owned(entitlements: EntitlementService, principal: Principal) -> set[str]:
    # Owned, not only active: deactivating a pack keeps it, so its answers stay readable.
    return await entitlements.readable_pack_ids(principal.account_id, active_only=False)
