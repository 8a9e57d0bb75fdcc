"""``create_app(settings) -> Litestar``: the HTTP composition root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from api import web
from api.auth import PUBLIC, SECURITY_COMPONENTS
from api.controllers.admin import AdminController
from api.controllers.ask import AskController
from api.controllers.billing import (
    CheckoutReturnController,
    LocalCheckoutController,
    StripeWebhookController,
)
from api.controllers.catalog import CatalogController
from api.controllers.conversations import ConversationsController
from api.controllers.customer import CustomerController
from api.controllers.feedback import FeedbackController
from api.controllers.handoffs import HandoffsController
from api.controllers.health import healthz, readyz
from api.controllers.payouts import (
    AdminRevenueController,
    ConnectReturnController,
    LocalOnboardingController,
    PublisherPayoutsController,
)
from api.controllers.profile import ProfileController
from api.controllers.publisher import PublisherController
from api.dependencies import DEPENDENCIES
from api.errors import EXCEPTION_HANDLERS
from api.logging import RequestLogMiddleware
from api.openapi_errors import document_error_responses
from api.rate_limit import (
    RATE_LIMIT_STORE,
    RedisRateLimitStore,
    rate_limit_config,
    rate_limit_store,
)
from core import __version__
from core.errors import ValidationError
from core.settings import Settings

logger = logging.getLogger("packdesk.api")


async def refuse_nul_in_path(request: Request) -> None:
    """A NUL character names no resource, and PostgreSQL text cannot even hold one: refuse it
    (422) before any handler queries with it."""
    if any("\x00" in str(value) for value in request.path_params.values()):
        raise ValidationError("a path parameter contains a NUL character")


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = PUBLIC
    include_in_schema = False


def create_app(settings: Settings, *, start_options: dict[str, Any] | None = None) -> Litestar:
    """Build the app; services start in its lifespan.

    Args:
        start_options: keyword arguments for :func:`api.services.start_services` (tests pass
            a shared embedder, a small classifier or a plugin manager).
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from api.drain import install_drain
        from api.services import start_services

        services = await start_services(settings, **(start_options or {}))
        app.state.services = services
        web.attach_web_services(app, services)
        services.start_retention_sweeps()
        services.start_model_watch()
        install_drain(services, settings.shutdown_drain_seconds)
        try:
            yield
        finally:
            await services.close()
            store = app.stores.get(RATE_LIMIT_STORE)
            if isinstance(store, RedisRateLimitStore):
                await store.close()

    # Per valid key, else per client address, in a bounded store or Redis (api/rate_limit.py).
    rate_limit = rate_limit_config(settings)
    prometheus = PrometheusConfig(app_name="packdesk", prefix="packdesk", group_path=True)
    route_handlers: list[Any] = [
        healthz,
        readyz,
        MetricsController,
        CatalogController,
        CustomerController,
        ProfileController,
        AskController,
        ConversationsController,
        FeedbackController,
        HandoffsController,
        StripeWebhookController,
        CheckoutReturnController,
        LocalCheckoutController,
        PublisherController,
        AdminController,
        PublisherPayoutsController,
        AdminRevenueController,
        LocalOnboardingController,
        ConnectReturnController,
    ]
    route_handlers += web.web_route_handlers(settings)  # pages, widget, insights (api/web)
    document_error_responses(route_handlers)
    return Litestar(
        before_request=refuse_nul_in_path,
        route_handlers=route_handlers,
        dependencies={**DEPENDENCIES, **web.WEB_DEPENDENCIES},
        lifespan=[lifespan],
        middleware=[
            RequestLogMiddleware(),
            prometheus.middleware,
            rate_limit.middleware,
            *web.web_middleware(settings),  # browser sessions (not on /v1/)
        ],
        # The rate limit in Redis when configured; browser sessions in the database.
        stores={RATE_LIMIT_STORE: rate_limit_store(settings), **web.web_stores()},
        exception_handlers={**EXCEPTION_HANDLERS, **web.WEB_EXCEPTION_HANDLERS},  # type: ignore[arg-type,dict-item]
        template_config=web.template_config(),
        csrf_config=web.csrf_config(settings),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="PackDesk",
            version=__version__,
            description="Ask, buy, activate and publish knowledge packs.",
            render_plugins=[SwaggerRenderPlugin()],
            components=SECURITY_COMPONENTS,
        ),
        debug=False,
    )
