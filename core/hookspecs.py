"""PackDesk hook specifications (pluggy, project name ``packdesk``).

Every hook is called with keyword arguments. To change a hook, add an argument; never change
the meaning of an existing one. Each hook is documented in docs/plugins.md and tested
(tests/core/test_hookspecs_meta.py fails if one is not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from core.assistant.generator import AnswerGenerator
    from core.ledger.billing import BillingProvider
    from core.packs.manifest import Manifest
    from core.packs.sources import PackSource
    from core.retrieval.protocols import Embedder, VectorIndexBackend
    from core.settings import Settings

PROJECT_NAME = "packdesk"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def packdesk_pack_sources(settings: Settings) -> list[PackSource]:
    """Contribute pack sources.

    Args:
        settings: the installation's settings.
    Returns:
        A list of :class:`core.packs.sources.PackSource`. Results of all plugins are concatenated.
    """


@hookspec(firstresult=True)
def packdesk_embedder(settings: Settings) -> Embedder | None:
    """Provide the text embedder.

    Args:
        settings: the installation's settings (``embedder_model_path`` may name a model dir).
    Returns:
        An :class:`core.retrieval.protocols.Embedder` (not yet warmed up), or ``None`` to let
        another plugin answer. First non-``None`` result wins; plugins registered later are
        called first, so a third-party embedder overrides the built-in one.
    """


@hookspec
def packdesk_vector_index_backends(settings: Settings) -> list[VectorIndexBackend]:
    """Contribute vector index backends.

    Args:
        settings: the installation's settings (``use_gpu``).
    Returns:
        A list of :class:`core.retrieval.protocols.VectorIndexBackend`, selected by ``name``.
    """


@hookspec
def packdesk_billing_providers(settings: Settings) -> list[BillingProvider]:
    """Contribute billing providers.

    Args:
        settings: the installation's settings (Stripe keys, public base URL).
    Returns:
        Providers that can be used with these settings (an empty list when unconfigured).
    """


@hookspec(firstresult=True)
def packdesk_answer_generator(settings: Settings) -> AnswerGenerator | None:
    """Provide the optional answer generator, which writes answers from retrieved passages.

    Args:
        settings: the installation's settings (``generator_url``, ``generator_model``,
            ``generator_api_key``, ``generator_timeout_s``).
    Returns:
        An :class:`core.assistant.generator.AnswerGenerator`, or ``None`` when this plugin is
        not configured (the answer then stays extractive). First non-``None`` result wins;
        plugins registered later are called first.
    """


@hookspec
def packdesk_postprocess_answer(answer: dict[str, Any], packs: list[Manifest]) -> None:
    """Adjust an answer in place before it is returned (disclaimers, emergency notices).

    Called for every answer composed from packs or templates (not for offers or out-of-scope
    replies).

    Args:
        answer: the answer being built: ``text`` (str, may be replaced), ``disclaimers``
            (list[str], may be changed) and ``citations`` (list of dicts with ``pack_id``,
            ``document_id``, ``title``, ``source_url``, ``score``; read only: changes are
            ignored, so no plugin can cite a pack the caller may not read).
        packs: manifests (:class:`core.packs.manifest.Manifest`) of the packs the answer's
            citations come from; empty for a template answer.
    Returns:
        Nothing; every implementation is called, in registration order reversed.
    """


@hookspec
def packdesk_register_commands(cli: click.Group) -> None:
    """Add commands to the ``packdesk`` command-line interface.

    Args:
        cli: the root :class:`click.Group`; call ``cli.add_command(...)``.
    """


STARTUP_SERVICES = (
    "packs",
    "search",
    "accounts",
    "catalog",
    "entitlements",
    "billing",
    "conversations",
    "assistant",
)
"""The keys of the ``services`` mapping :func:`packdesk_startup` receives."""


@hookspec
def packdesk_startup(settings: Settings, services: dict[str, Any]) -> None:
    """Run once when the application starts, after packs and models are loaded.

    Args:
        settings: the installation's settings.
        services: the started engine services by name, exactly the keys of
            :data:`STARTUP_SERVICES`: ``packs`` (the routable catalog, manifests by pack id),
            ``search`` (:class:`core.retrieval.search.SearchService`), ``accounts``,
            ``catalog``, ``entitlements`` (:mod:`core.ledger` services), ``billing``
            (:class:`core.ledger.fulfilment.BillingService`), ``conversations``
            (:class:`core.conversations.service.ConversationService`) and ``assistant``
            (:class:`core.assistant.assistant.Assistant`).
    """
