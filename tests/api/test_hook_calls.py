"""Every hook is called with the arguments its spec documents, by the code that really calls it.

A recording plugin implements every hook in core/hookspecs.py; the server starts with it, a
customer asks (a greeting, then, after buying finance, a question its passages answer), the
CLI is built and the pack sources and
embedder are looked up the way ``packdesk prepare`` does. Each hook's recorded calls are then
checked against its spec: the argument names, and what each argument holds. A hook added to the
specs without a check here fails :func:`test_every_hook_has_an_argument_check`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import click
from litestar.testing import TestClient

from api.app import create_app
from api.cli import build_cli
from api.wiring import embedder as plugin_embedder
from core import Manifest, Settings, hookimpl, hookspecs
from core.assistant.assistant import Assistant
from core.conversations.service import ConversationService
from core.ledger.accounts import AccountService
from core.ledger.catalog import CatalogService
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.packs.discovery import discover_pack_sources
from core.plugin_manager import get_plugin_manager
from core.retrieval.search import SearchService
from tests.api.conftest import DOCS_PER_PACK, bearer, buy_and_activate, install_built_packs

HOOKS = sorted(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith(f"{hookspecs.PROJECT_NAME}_")
)
CITATION_KEYS = {"pack_id", "document_id", "title", "source_url", "score"}
STARTUP_TYPES = {
    "packs": dict,
    "search": SearchService,
    "accounts": AccountService,
    "catalog": CatalogService,
    "entitlements": EntitlementService,
    "billing": BillingService,
    "conversations": ConversationService,
    "assistant": Assistant,
}


class Recorder:
    """Implements every hook; records the keyword arguments of each call, changes nothing."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {name: [] for name in HOOKS}

    def _record(self, hook: str, **kwargs: Any) -> None:
        self.calls[hook].append(kwargs)

    @hookimpl
    def packdesk_pack_sources(self, settings):  # type: ignore[no-untyped-def]
        self._record("packdesk_pack_sources", settings=settings)
        return []

    @hookimpl
    def packdesk_embedder(self, settings):  # type: ignore[no-untyped-def]
        self._record("packdesk_embedder", settings=settings)

    @hookimpl
    def packdesk_vector_index_backends(self, settings):  # type: ignore[no-untyped-def]
        self._record("packdesk_vector_index_backends", settings=settings)
        return []

    @hookimpl
    def packdesk_billing_providers(self, settings):  # type: ignore[no-untyped-def]
        self._record("packdesk_billing_providers", settings=settings)
        return []

    @hookimpl
    def packdesk_answer_generator(self, settings):  # type: ignore[no-untyped-def]
        self._record("packdesk_answer_generator", settings=settings)

    @hookimpl
    def packdesk_postprocess_answer(self, answer, packs):  # type: ignore[no-untyped-def]
        self._record("packdesk_postprocess_answer", answer=dict(answer), packs=list(packs))

    @hookimpl
    def packdesk_register_commands(self, cli):  # type: ignore[no-untyped-def]
        self._record("packdesk_register_commands", cli=cli)

    @hookimpl
    def packdesk_startup(self, settings, services):  # type: ignore[no-untyped-def]
        self._record("packdesk_startup", settings=settings, services=dict(services))


def _settings_only(call: dict[str, Any]) -> None:
    assert isinstance(call["settings"], Settings)


def _postprocess(call: dict[str, Any]) -> None:
    answer, packs = call["answer"], call["packs"]
    assert isinstance(answer["text"], str) and answer["text"]
    assert isinstance(answer["disclaimers"], list)
    assert all(set(c) == CITATION_KEYS for c in answer["citations"])
    assert all(isinstance(pack, Manifest) for pack in packs)
    # packs are exactly the packs the citations come from
    assert {pack.id for pack in packs} == {c["pack_id"] for c in answer["citations"]}


def _register_commands(call: dict[str, Any]) -> None:
    assert isinstance(call["cli"], click.Group)


def _startup(call: dict[str, Any]) -> None:
    _settings_only(call)
    services = call["services"]
    assert tuple(services) == hookspecs.STARTUP_SERVICES
    for name, expected in STARTUP_TYPES.items():
        assert isinstance(services[name], expected), name
    assert all(isinstance(m, Manifest) for m in services["packs"].values())


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "packdesk_pack_sources": _settings_only,
    "packdesk_embedder": _settings_only,
    "packdesk_vector_index_backends": _settings_only,
    "packdesk_billing_providers": _settings_only,
    "packdesk_answer_generator": _settings_only,
    "packdesk_postprocess_answer": _postprocess,
    "packdesk_register_commands": _register_commands,
    "packdesk_startup": _startup,
}


def test_every_hook_has_an_argument_check() -> None:
    assert sorted(CHECKS) == HOOKS
    assert set(STARTUP_TYPES) == set(hookspecs.STARTUP_SERVICES)


def test_every_hook_is_called_with_the_arguments_of_its_spec(
    api_settings, built_packs, shared_embedder, small_classifier  # type: ignore[no-untyped-def]
) -> None:
    recorder = Recorder()
    manager = get_plugin_manager(extra_plugins=[recorder])
    install_built_packs(api_settings, built_packs, list(DOCS_PER_PACK))
    app = create_app(
        api_settings,
        start_options={
            "embedder": shared_embedder,
            "classifier": small_classifier,
            "manager": manager,
        },
    )
    with TestClient(app, base_url="http://testserver.local") as client:
        services = client.app.state.services
        _, key = client.blocking_portal.call(
            services.accounts.create_account, "hook probe", "customer"
        )
        customer = bearer(key)
        assert client.post("/v1/ask", json={"question": "hello"}, headers=customer).is_success
        buy_and_activate(client, customer, "finance")
        question = built_packs.documents["finance"][0]["metadata"]["eval_questions"][0]
        answer = client.post("/v1/ask", json={"question": question}, headers=customer).json()
        assert answer["citations"], answer
    build_cli(manager)
    discover_pack_sources(manager, api_settings)
    plugin_embedder(api_settings, manager)

    for hook in HOOKS:
        calls = recorder.calls[hook]
        assert calls, f"{hook} was never called"
        expected = list(inspect.signature(getattr(hookspecs, hook)).parameters)
        for call in calls:
            assert sorted(call) == sorted(expected), hook
            CHECKS[hook](call)
    assert len(recorder.calls["packdesk_startup"]) == 1
    # a cited answer reached the post-processors with its citations
    assert any(c["answer"]["citations"] for c in recorder.calls["packdesk_postprocess_answer"])
