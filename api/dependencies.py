"""Litestar dependency providers: how a handler receives the engine services it declares.

The services are built once, in the app's lifespan (:func:`api.services.start_services`), and
kept on ``app.state``. A handler names what it needs as a parameter (``ask_service: AskService``,
``entitlements: EntitlementService``, ...) and gets exactly that, typed, instead of reaching into
``request.app.state``. The names below are the parameter names handlers use.
"""

from __future__ import annotations

from typing import cast

from litestar.datastructures import State
from litestar.di import Provide

from api.services import AppServices
from core.ask import AskService
from core.conversations.service import ConversationService
from core.errors import ConfigError
from core.learning.feedback import FeedbackService
from core.ledger.accounts import AccountService
from core.ledger.billing import BillingProvider
from core.ledger.catalog import CatalogService
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.payouts import PayoutService
from core.ledger.profiles import ProfileService
from core.ledger.statements import EarningsService
from core.packs.manifest import Manifest
from core.publishing import PublishingService
from core.retrieval.search import SearchService
from core.settings import Settings


def services_of(state: State) -> AppServices:
    """The started services (guards and middleware, which dependency injection does not reach,
    use this too)."""
    return cast(AppServices, state.services)


def provide_services(state: State) -> AppServices:
    return services_of(state)


def provide_settings(services: AppServices) -> Settings:
    return services.settings


def provide_accounts(services: AppServices) -> AccountService:
    return services.accounts


def provide_catalog(services: AppServices) -> CatalogService:
    return services.catalog


def provide_entitlements(services: AppServices) -> EntitlementService:
    return services.entitlements


def provide_billing(services: AppServices) -> BillingService:
    return services.billing


def provide_provider(services: AppServices) -> BillingProvider:
    """The billing provider in use (Stripe when configured, else local)."""
    return services.provider


def provide_publishing(services: AppServices) -> PublishingService:
    return services.publishing


def provide_search(services: AppServices) -> SearchService:
    return services.search


def provide_packs(services: AppServices) -> dict[str, Manifest]:
    """The routable catalog: manifests of the approved, loaded packs by id."""
    return services.packs


def provide_conversations(services: AppServices) -> ConversationService:
    return services.conversations


def provide_payouts(services: AppServices) -> PayoutService:
    return services.payouts


def provide_earnings(services: AppServices) -> EarningsService:
    return services.earnings


def provide_profiles(services: AppServices) -> ProfileService:
    return services.profiles


def provide_ask(services: AppServices) -> AskService:
    return services.ask


def provide_feedback(services: AppServices) -> FeedbackService:
    """Feedback on answers and handoff resolutions (core.learning)."""
    if services.feedback is None:  # start_services always builds it; a bare test app may not
        raise ConfigError("the feedback service is not started")
    return services.feedback


def _provide(provider: object) -> Provide:
    # Every provider only reads an attribute: no thread needed.
    return Provide(provider, sync_to_thread=False)  # type: ignore[arg-type]


DEPENDENCIES: dict[str, Provide] = {
    "services": _provide(provide_services),
    "settings": _provide(provide_settings),
    "accounts": _provide(provide_accounts),
    "catalog": _provide(provide_catalog),
    "entitlements": _provide(provide_entitlements),
    "billing": _provide(provide_billing),
    "provider": _provide(provide_provider),
    "publishing": _provide(provide_publishing),
    "search": _provide(provide_search),
    "packs": _provide(provide_packs),
    "conversations": _provide(provide_conversations),
    "profiles": _provide(provide_profiles),
    "payouts": _provide(provide_payouts),
    "earnings": _provide(provide_earnings),
    "ask_service": _provide(provide_ask),
    "feedback": _provide(provide_feedback),
}
