"""The web's engine services, built once after :func:`api.services.start_services` (in the
app's lifespan) and kept on ``app.state.web``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from litestar.datastructures import State

from api.services import AppServices
from core.browser_sessions import SessionRecords
from core.visitors import InsightsService, VisitorService, WidgetKeyService


@dataclass(frozen=True)
class WebServices:
    sessions: SessionRecords
    widget_keys: WidgetKeyService
    visitors: VisitorService
    insights: InsightsService


def start_web_services(services: AppServices) -> WebServices:
    from core.privacy import load_conversation_cipher

    # The same key as conversation text: visitor examples are stored like turns.
    cipher = load_conversation_cipher(services.settings)

    async def active_packs(account_id: str) -> set[str]:
        return await services.entitlements.readable_pack_ids(account_id, active_only=True)

    return WebServices(
        sessions=SessionRecords(services.db),
        widget_keys=WidgetKeyService(services.db),
        visitors=VisitorService(
            ask=services.ask,
            db=services.db,
            cipher=cipher,
            packs=services.packs,
            active_packs=active_packs,
            retention_days=services.settings.retention_days,
        ),
        insights=InsightsService(
            services.db, cipher, retention_days=services.settings.retention_days
        ),
    )


def web_of(state: State) -> WebServices:
    return cast(WebServices, state.web)


def provide_web(state: State) -> WebServices:
    return web_of(state)
