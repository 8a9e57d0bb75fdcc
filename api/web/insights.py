"""``GET /v1/insights``: a business's missed demand, handoffs and busiest intents, per period."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from litestar import get
from litestar.params import Parameter
from pydantic import BaseModel

from api.auth import CustomerRoutes
from api.web.services import WebServices
from core.ledger.accounts import Principal
from core.packs.manifest import Manifest
from core.visitors.insights import MAX_PERIODS


class MissedPackOut(BaseModel):
    pack_id: str
    name: str
    questions: int
    examples: list[str]  # redacted visitor questions, newest first (at most 3)


class IntentCountOut(BaseModel):
    label: str
    questions: int


class PeriodOut(BaseModel):
    start: datetime
    end: datetime
    questions: int
    handoffs: int
    missed: list[MissedPackOut]
    top_intents: list[IntentCountOut]


class InsightsOut(BaseModel):
    period: Literal["day", "week", "month"]
    periods: list[PeriodOut]


class InsightsController(CustomerRoutes):
    path = "/v1/insights"
    tags = ["customer"]

    @get("/", operation_id="getInsights")
    async def insights(
        self,
        principal: Principal,
        web: WebServices,
        packs: dict[str, Manifest],
        period: Literal["day", "week", "month"] = "week",
        periods: int = Parameter(default=4, ge=1, le=MAX_PERIODS),
    ) -> InsightsOut:
        """What the business's visitors asked through its widget, per period (newest first): how
        many questions needed each pack it does not own (with a few redacted examples), how
        many were handed off to a person, and the busiest intents."""
        rows = await web.insights.insights(principal.account_id, period=period, periods=periods)
        return InsightsOut(
            period=period,
            periods=[
                PeriodOut(
                    start=row.start,
                    end=row.end,
                    questions=row.questions,
                    handoffs=row.handoffs,
                    missed=[
                        MissedPackOut(
                            pack_id=m.pack_id,
                            name=packs[m.pack_id].name if m.pack_id in packs else m.pack_id,
                            questions=m.questions,
                            examples=m.examples,
                        )
                        for m in row.missed
                    ],
                    top_intents=[
                        IntentCountOut(label=i.label, questions=i.questions)
                        for i in row.top_intents
                    ],
                )
                for row in rows
            ],
        )
