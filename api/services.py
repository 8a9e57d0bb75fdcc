"""Composition root: build every engine service from settings and plugins, once, at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import pluggy

from core.assistant.assistant import Assistant, AssistantConfig
from core.packs.manifest import Manifest
from core.publishing import EmbeddingIdentity, PublishingService
from core.settings import Settings

logger = logging.getLogger("packdesk.services")


@dataclass
class AppServices:
    """Everything a request handler may use. Built by :func:`start_services`."""

    settings: Settings
    manager: pluggy.PluginManager
    db: Any
    accounts: Any
    catalog: Any
    entitlements: Any
    billing: Any
    provider: Any
    store: Any
    search: Any
    classifier: Any | None
    assistant: Assistant
    publishing: PublishingService
    packs: dict[str, Manifest] = field(default_factory=dict)
    ready: bool = False
    redactor: Any = None  # core.privacy.Redactor: the one per process
    conversations: Any = None  # core.conversations.service.ConversationService
    retention_task: asyncio.Task[None] | None = None
    batchers: list[Any] = field(default_factory=list)  # core.batching.MicroBatcher per model

    async def load_pack(self, installed: Any) -> None:
        """Make an approved pack searchable and routable (on approval, while serving)."""
        await load_pack(self.settings, self.manager, self.search, self.packs, installed)

    def start_retention_sweeps(self) -> None:
        """Start the periodic purge of expired turns (every ``retention_sweep_seconds``)."""
        from core.conversations.service import run_retention_sweeps

        if self.retention_task is None:
            self.retention_task = asyncio.create_task(
                run_retention_sweeps(self.conversations, self.settings.retention_sweep_seconds),
                name="packdesk-retention",
            )

    async def close(self) -> None:
        """Stop the retention task (waiting for a sweep in progress to roll back), then the DB."""
        task, self.retention_task = self.retention_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for batcher in self.batchers:  # finishes the forward passes already queued
            await batcher.aclose()
        if self.conversations is not None:  # commits the turns already queued
            await self.conversations.drain()
        await self.db.dispose()


async def load_pack(
    settings: Settings,
    manager: pluggy.PluginManager,
    search: Any,
    packs: dict[str, Manifest],
    installed: Any,
) -> None:
    """Load an installed pack's index (checked against its signed checksums and the embedder's
    model) into ``search`` and list its manifest in ``packs``, the routable catalog."""
    from api import wiring

    backend = wiring.vector_index_backend(settings, manager)
    await asyncio.to_thread(search.load_installed_pack, installed, backend)
    packs[installed.manifest.id] = installed.manifest


def choose_billing_provider(settings: Settings, manager: pluggy.PluginManager) -> Any:
    """The provider the ledger picks among every plugin's (Stripe when configured, else local)."""
    from core.ledger.billing import choose_billing_provider as choose

    groups = manager.hook.packdesk_billing_providers(settings=settings)
    return choose([provider for group in groups for provider in group])


async def start_services(
    settings: Settings,
    *,
    manager: pluggy.PluginManager | None = None,
    classifier: Any | None = None,
    load_classifier: bool = True,
    embedder: Any | None = None,
) -> AppServices:
    """Migrate the database, load installed packs (verified), the embedder and the intent model.

    Args:
        classifier: an already-warm classifier (tests); otherwise the default model is loaded
            when ``load_classifier`` and one exists.
        embedder: an already-built embedder (tests share one); else the plugin's.
    """
    from api import wiring
    from core.conversations.service import ConversationService
    from core.ledger.accounts import AccountService
    from core.ledger.catalog import CatalogService
    from core.ledger.db import create_database
    from core.ledger.entitlements import EntitlementService
    from core.ledger.fulfilment import BillingService
    from core.packs.bootstrap import ensure_installation_key
    from core.packs.store import PackStore
    from core.plugin_manager import get_plugin_manager
    from core.privacy import HandoffPolicy, Redactor, load_conversation_cipher
    from core.privacy.sentiment import warm_up as warm_up_sentiment
    from core.retrieval.search import SearchService

    manager = manager or get_plugin_manager()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = create_database(settings)
    await db.migrate()
    accounts = AccountService(db)
    catalog = CatalogService(db)
    entitlements = EntitlementService(db)
    provider = choose_billing_provider(settings, manager)
    billing = BillingService(db, provider, catalog=catalog, entitlements=entitlements)

    embedder = embedder or wiring.embedder(settings, manager)
    await asyncio.to_thread(embedder.warm_up)
    search = SearchService(embedder, settings=settings)
    store = PackStore(settings)
    _, installation_key_id = ensure_installation_key(settings)

    async def active_packs(account_id: str) -> set[str]:
        return await entitlements.readable_pack_ids(account_id, active_only=True)

    async def owned_packs(account_id: str) -> set[str]:
        return await entitlements.readable_pack_ids(account_id, active_only=False)

    packs: dict[str, Manifest] = {}

    def postprocess(answer: dict[str, Any], manifests: list[Manifest]) -> None:
        manager.hook.packdesk_postprocess_answer(answer=answer, packs=manifests)

    # Built once: the redactor's patterns and phone metadata, the key file, the VADER lexicon.
    redactor = Redactor()
    await asyncio.to_thread(warm_up_sentiment)
    conversations = ConversationService(
        db,
        load_conversation_cipher(settings),
        redactor,
        retention_days=settings.retention_days,
    )

    approved = {(entry.pack_id, entry.version) for entry in await catalog.catalog()}
    # Verified at load: installed() re-hashes every file against the signed manifest.
    for installed in await asyncio.to_thread(store.installed):
        manifest = installed.manifest
        if installed.key_id == installation_key_id:
            # Built here from a pack source (the built-in packs): approved by construction.
            await catalog.register_builtin(manifest, archive_path=str(installed.root))
        elif (manifest.id, manifest.version) not in approved:
            logger.warning(
                "skipping installed pack %s %s: not approved", manifest.id, manifest.version
            )
            continue
        await load_pack(settings, manager, search, packs, installed)
    if classifier is None and load_classifier:
        classifier = await asyncio.to_thread(_load_default_classifier, settings, packs)
    await asyncio.to_thread(_warm_up_requests, search, classifier)
    batchers = _model_batchers(settings, search, classifier)
    assistant = Assistant(
        packs=packs,
        search=search,
        active_packs=active_packs,
        owned_packs=owned_packs,
        classifier=classifier,
        postprocess=postprocess,
        config=AssistantConfig(generator_timeout_s=settings.generator_timeout_s),
        generator=_generator(settings),
        handoff_policy=HandoffPolicy(negative_threshold=settings.negative_sentiment_threshold),
        classify=batchers["classify"].submit if "classify" in batchers else None,
        embed_query=batchers["embed"].submit,
    )
    publishing = PublishingService(
        accounts=accounts,
        catalog=catalog,
        store=store,
        billing=billing,
        embedding=EmbeddingIdentity(model_id=embedder.model_id, dimension=embedder.dimension),
        archive_limits=settings.archive_limits,
        uploads_dir=settings.data_dir / "uploads",
        trust_dir=settings.trust_dir,
        on_approved=lambda installed: load_pack(settings, manager, search, packs, installed),
    )
    services = AppServices(
        settings=settings,
        manager=manager,
        db=db,
        accounts=accounts,
        catalog=catalog,
        entitlements=entitlements,
        billing=billing,
        provider=provider,
        store=store,
        search=search,
        classifier=classifier,
        assistant=assistant,
        publishing=publishing,
        packs=packs,
        redactor=redactor,
        conversations=conversations,
        batchers=list(batchers.values()),
    )
    manager.hook.packdesk_startup(settings=settings, services={"packs": packs, "search": search})
    services.ready = True
    return services


def _generator(settings: Settings) -> Any | None:
    """The operator's answer generator, when ``PACKDESK_GENERATOR_URL`` is set."""
    if not settings.generator_url:
        return None
    from plugins.openai_generator import OpenAICompatibleGenerator

    api_key = settings.generator_api_key.get_secret_value() if settings.generator_api_key else None
    return OpenAICompatibleGenerator(
        settings.generator_url,
        model=settings.generator_model,
        api_key=api_key,
        timeout_s=settings.generator_timeout_s,
    )


def _model_batchers(settings: Settings, search: Any, classifier: Any | None) -> dict[str, Any]:
    """One micro-batcher per model on the ``/v1/ask`` path (direct calls when batching is off)."""
    from core.batching import MicroBatcher

    options = {
        "max_batch_size": settings.batch_max_size,
        "max_wait_ms": settings.batch_max_wait_ms,
        "enabled": settings.batching_enabled,
    }
    batchers: dict[str, Any] = {
        "embed": MicroBatcher(search.embed_queries, name="embed", **options)
    }
    if classifier is not None:
        batchers["classify"] = MicroBatcher(classifier.predict, name="classify", **options)
    return batchers


def _warm_up_requests(search: Any, classifier: Any | None) -> None:
    """Run one question through every model and index, so the first request pays no lazy
    initialisation (torch kernels, tokenizers, the BM25 stemmer)."""
    question = "How do I reset my password?"
    if classifier is not None:
        classifier.predict([question])
    pack_ids = search.pack_ids()
    vector = search.embed_queries([question])
    if pack_ids:
        search.pack_scores(question, pack_ids, query_vector=vector)
        search.search(question, pack_ids=pack_ids, k=5, query_vector=vector)


def _load_default_classifier(settings: Settings, packs: dict[str, Manifest]) -> Any | None:
    from core.intents.classifier import IntentClassifier
    from core.intents.default import default_model_dir

    model_dir = default_model_dir(settings)
    if not model_dir.exists():
        logger.warning("no intent model at %s: routing by retrieval only", model_dir)
        return None
    labels = {label for manifest in packs.values() for label in manifest.intent_labels()}
    classifier = IntentClassifier(
        model_dir,
        expected_labels=labels,
        backend=settings.inference_backend,
        onnx_cache=settings.onnx_cache_dir,
    )
    classifier.warm_up()
    return classifier
