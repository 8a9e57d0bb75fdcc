"""Composition root: build every engine service from settings and plugins, once, at start-up.

Each engine service exists once per process (one access cache, one catalog, one redactor) and
reaches request handlers through Litestar dependency injection (:mod:`api.dependencies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
import pluggy

from core.ask import AskService
from core.assistant.assistant import Assistant, AssistantConfig
from core.batching import MicroBatcher
from core.conversations.service import ConversationService
from core.intents.classifier import IntentClassifier, Prediction
from core.intents.hot_swap import SwappableClassifier
from core.learning.feedback import FeedbackService
from core.learning.registry import ModelRegistry
from core.learning.watcher import ModelWatcher
from core.ledger.accounts import AccountService
from core.ledger.billing import BillingProvider
from core.ledger.catalog import CatalogService
from core.ledger.db import Database
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.invalidation import AccessChangeListener
from core.ledger.payouts import PayoutService
from core.ledger.profiles import ProfileService
from core.ledger.statements import EarningsService
from core.packs.manifest import Manifest
from core.packs.store import InstalledPack, PackStore
from core.privacy import Redactor
from core.publishing import EmbeddingIdentity, PublishingService
from core.publishing.replication import PackReplication
from core.publishing.serving import ServedPacks, SkippedPack
from core.retrieval.protocols import Embedder
from core.retrieval.search import SearchService
from core.settings import Settings
from core.work_lane import WorkLane

logger = logging.getLogger("packdesk.services")

R = TypeVar("R")


@dataclass(frozen=True)
class ModelBatchers:
    """The micro-batchers of ``/v1/ask`` and ``/v1/search``, one per model, and their work
    lane (direct calls in ``asyncio.to_thread`` when batching is off)."""

    embed: MicroBatcher[str, np.ndarray]
    classify: MicroBatcher[str, Prediction] | None
    # The blocking work of /v1/search and /v1/ask (routing scores, FAISS, BM25, fusion,
    # redaction) in one thread, results handed back in batches (core/work_lane.py).
    search: WorkLane

    async def aclose(self) -> None:
        """Finish the forward passes and searches already queued, then stop."""
        await self.embed.aclose()
        await self.search.aclose()
        if self.classify is not None:
            await self.classify.aclose()


@dataclass
class AppServices:
    """Everything a request handler may use. Built by :func:`start_services`."""

    settings: Settings
    manager: pluggy.PluginManager
    db: Database
    accounts: AccountService
    catalog: CatalogService
    entitlements: EntitlementService
    billing: BillingService
    provider: BillingProvider
    store: PackStore
    search: SearchService
    classifier: SwappableClassifier | None  # hot-swapped when a version is promoted
    assistant: Assistant
    publishing: PublishingService
    conversations: ConversationService
    profiles: ProfileService
    payouts: PayoutService  # publishers' connected accounts and the platform fee (issue 19)
    earnings: EarningsService
    ask: AskService
    batchers: ModelBatchers
    packs: dict[str, Manifest] = field(default_factory=dict)
    # Approved, installed versions that failed to load (shown by /readyz and the admin API).
    skipped_packs: list[SkippedPack] = field(default_factory=list)
    ready: bool = False
    retention_task: asyncio.Task[None] | None = None
    # Learning (issue 18): feedback and resolutions, model versions, the version watcher.
    feedback: FeedbackService | None = None
    models: ModelRegistry | None = None
    model_watcher: ModelWatcher | None = None
    model_watch_task: asyncio.Task[None] | None = None
    # Scale out (PostgreSQL): other processes' changes heard, the shared store kept in step.
    listener: AccessChangeListener | None = None
    replication: PackReplication | None = None
    # SIGTERM received: /readyz says 503 while in-flight (and new) requests are still served.
    draining: bool = False

    def start_model_watch(self) -> None:
        """Poll the current intent model version every ``model_check_seconds`` and swap a
        promoted one in (every node does, so all of them follow a promotion)."""
        if self.model_watcher is not None and self.model_watch_task is None:
            self.model_watch_task = asyncio.create_task(
                self.model_watcher.run(self.settings.model_check_seconds),
                name="packdesk-model-watch",
            )

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
        watch, self.model_watch_task = self.model_watch_task, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        task, self.retention_task = self.retention_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.replication is not None:
            await self.replication.close()
        if self.listener is not None:
            await self.listener.close()
        await self.batchers.aclose()
        await self.conversations.drain()  # commits the turns already queued
        await self.db.dispose()


async def load_pack(
    settings: Settings,
    manager: pluggy.PluginManager,
    search: SearchService,
    packs: dict[str, Manifest],
    installed: InstalledPack,
) -> None:
    """Load an installed pack's index (checked against its signed checksums and the embedder's
    model) into ``search`` and list its manifest in ``packs``, the routable catalog."""
    from api import wiring

    backend = wiring.vector_index_backend(settings, manager)
    await asyncio.to_thread(search.load_installed_pack, installed, backend)
    packs[installed.manifest.id] = installed.manifest


async def unload_pack(search: SearchService, packs: dict[str, Manifest], pack_id: str) -> None:
    """Stop routing to a pack, then stop searching it."""
    packs.pop(pack_id, None)
    search.remove_pack(pack_id)


def choose_billing_provider(
    settings: Settings, manager: pluggy.PluginManager
) -> BillingProvider:
    """The provider ``settings.billing_provider`` names among every plugin's, checked and
    logged (:func:`core.ledger.billing.choose_billing_provider`).

    Raises:
        ConfigError: no provider is configured, or its settings are incomplete.
    """
    from core.ledger.billing import choose_billing_provider as choose

    groups = manager.hook.packdesk_billing_providers(settings=settings)
    return choose(settings, [provider for group in groups for provider in group])


async def start_services(
    settings: Settings,
    *,
    manager: pluggy.PluginManager | None = None,
    classifier: IntentClassifier | None = None,
    load_classifier: bool = True,
    embedder: Embedder | None = None,
) -> AppServices:
    """Migrate the database, load installed packs (verified), the embedder and the intent model.

    Args:
        classifier: an already-warm classifier (tests); otherwise the default model is loaded
            when ``load_classifier`` and one exists.
        embedder: an already-built embedder (tests share one); else the plugin's.
    """
    from api import wiring
    from core.assistant.handoff import HandoffPolicy
    from core.assistant.sentiment import warm_up as warm_up_sentiment
    from core.intents.domain import default_domain_dir, load_domain_model
    from core.ledger.db import create_database
    from core.migrations import migrate
    from core.packs.bootstrap import ensure_installation_key
    from core.plugin_manager import get_plugin_manager
    from core.privacy import load_conversation_cipher

    manager = manager or get_plugin_manager()
    # Settings are checked before anything is written: a bad billing setting changes nothing.
    provider = choose_billing_provider(settings, manager)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = create_database(settings)
    await migrate(db)
    # Several processes share a PostgreSQL database: hear each other's access changes.
    listener = None if db.is_sqlite else AccessChangeListener(db)
    if listener is not None:
        await listener.start()
    accounts = AccountService(db)
    catalog = CatalogService(db)
    entitlements = EntitlementService(db, catalog=catalog)
    profiles = ProfileService(db)
    billing = BillingService(db, provider, catalog=catalog, entitlements=entitlements)
    payouts = PayoutService(db, provider)

    embedder = embedder or wiring.embedder(settings, manager)
    # The model loads while the packs do (loading an index embeds nothing): imports and the
    # ONNX session overlap the index reads, about a second of a six-second start.
    embedder_ready = asyncio.create_task(asyncio.to_thread(embedder.warm_up))
    search = SearchService(embedder, settings=settings)
    store = PackStore(settings)
    _, installation_key_id = ensure_installation_key(settings)
    # On PostgreSQL the nodes share nothing on disk: trust, approved packs and the domain
    # model come from the shared store before anything loads (an empty node installs them).
    replication = None
    if listener is not None:
        from core.ledger.shared_files import SharedFiles

        replication = PackReplication(
            shared=SharedFiles(db),
            store=store,
            catalog=catalog,
            own_key_id=installation_key_id,
            domain_dir=default_domain_dir(settings),
        )
        await replication.bootstrap()

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
        db, load_conversation_cipher(settings), retention_days=settings.retention_days
    )

    # Per pack, the newest installed version that is approved (built-in packs, signed with the
    # installation key, are approved by construction) and loads, verified again at load; a
    # version that fails to load is logged, skipped and listed, never fatal.
    served = ServedPacks(
        store=store,
        catalog=catalog,
        load=lambda installed: load_pack(settings, manager, search, packs, installed),
        unload=lambda pack_id: unload_pack(search, packs, pack_id),
        builtin_key_id=installation_key_id,
        builtin_key_ids=replication.builtin_key_ids if replication is not None else frozenset,
    )
    try:
        await served.load_all()
    finally:
        await embedder_ready  # raises what warm_up raised; never left running on a failure
    if replication is not None and listener is not None:
        replication.attach(served)
        await replication.publish_local()
        listener.subscribe(replication.schedule)
        replication.start_periodic(settings.replication_interval_seconds)
    builtin_pack_ids = served.builtin_pack_ids()  # trusted with platform intents
    models = ModelRegistry(db)
    version_id = None
    if classifier is None and load_classifier:
        classifier, version_id = await _serving_classifier(
            settings, packs, models, builtin_pack_ids, search
        )
    holder = SwappableClassifier(classifier, version_id) if classifier is not None else None
    # The domain head next to the intent model; without one routing uses today's rules (logged).
    domain_model = await asyncio.to_thread(
        load_domain_model, default_domain_dir(settings), list(packs)
    )
    await asyncio.to_thread(_warm_up_requests, search, holder)
    batchers = _model_batchers(settings, search, holder)
    assistant = Assistant(
        packs=packs,
        search=search,
        active_packs=active_packs,
        owned_packs=owned_packs,
        classifier=holder,
        postprocess=postprocess,
        config=AssistantConfig(generator_timeout_s=settings.generator_timeout_s),
        generator=wiring.answer_generator(settings, manager),
        handoff_policy=HandoffPolicy(negative_threshold=settings.negative_sentiment_threshold),
        classify=batchers.classify.submit if batchers.classify is not None else None,
        embed_query=batchers.embed.submit,
        platform_pack_ids=builtin_pack_ids | settings.platform_pack_ids,
        placeholder_values=profiles.placeholder_values,
        domain_model=domain_model,
        offload=batchers.search.run,
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
        on_approved=served.serve,
        on_changed=served.refresh,
        platform_pack_ids=settings.platform_pack_ids,
        replication=replication,
        payouts=payouts,
    )
    # Uploads and installs a crash interrupted (*.part, .tmp-*): nobody else will remove them.
    await asyncio.to_thread(publishing.sweep_leftovers)
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
        classifier=holder,
        assistant=assistant,
        publishing=publishing,
        packs=packs,
        skipped_packs=served.skipped,
        conversations=conversations,
        profiles=profiles,
        payouts=payouts,
        earnings=EarningsService(db),
        ask=AskService(
            assistant=assistant,
            conversations=conversations,
            redactor=redactor,
            max_query_chars=settings.max_query_chars,
            offload=batchers.search.run,
        ),
        batchers=batchers,
        feedback=FeedbackService(
            db, conversations.cipher, redactor, conversations, _label_space(packs, holder)
        ),
        models=models,
        model_watcher=_model_watcher(settings, models, holder, packs, builtin_pack_ids, search),
        listener=listener,
        replication=replication,
    )
    startup_services: dict[str, Any] = {
        "packs": packs,
        "search": search,
        "accounts": accounts,
        "catalog": catalog,
        "entitlements": entitlements,
        "billing": billing,
        "conversations": conversations,
        "assistant": assistant,
    }
    manager.hook.packdesk_startup(settings=settings, services=startup_services)
    services.ready = True
    return services


def _model_batchers(
    settings: Settings, search: SearchService, classifier: SwappableClassifier | None
) -> ModelBatchers:
    """One micro-batcher per model on the ``/v1/ask`` path (direct calls when batching is off)."""

    def batcher(
        batch_fn: Callable[[list[str]], Sequence[R]], name: str, workers: int = 1
    ) -> MicroBatcher[str, R]:
        return MicroBatcher(
            batch_fn,
            name=name,
            max_batch_size=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            enabled=settings.batching_enabled,
            workers=workers,
        )

    # A 2-d array is the sequence of its rows: one query vector per question.
    embed_queries = cast(Callable[[list[str]], Sequence[np.ndarray]], search.embed_queries)
    return ModelBatchers(
        embed=batcher(embed_queries, "embed", workers=settings.embed_workers),
        classify=batcher(classifier.predict, "classify") if classifier is not None else None,
        search=WorkLane("search", enabled=settings.batching_enabled),
    )


def _warm_up_requests(search: SearchService, classifier: SwappableClassifier | None) -> None:
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


def _load_default_classifier(
    settings: Settings, packs: dict[str, Manifest], search: SearchService
) -> IntentClassifier | None:
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
        **_query_embedder(search),
    )
    classifier.warm_up()
    return classifier


def _expected_labels(packs: dict[str, Manifest]) -> set[str]:
    return {label for manifest in packs.values() for label in manifest.intent_labels()}


def _version_label_problem(
    labels: list[str], packs: dict[str, Manifest], builtin_pack_ids: set[str]
) -> str | None:
    """Why a registered intent model version cannot serve these packs (None when it can).

    It must know the built-in packs' labels (``packdesk prepare`` registers a new version when
    they change), not those of a third-party pack approved after it was trained: the nodes
    running at the approval keep their model and route that pack by the domain head and
    retrieval until a retrain, and a node started later (one with an empty data directory
    included) must serve the same model rather than none.
    """
    from core.intents.versions import label_problem

    builtin = {pack_id: packs[pack_id] for pack_id in builtin_pack_ids if pack_id in packs}
    return label_problem(labels, _expected_labels(builtin), packs)


async def _serving_classifier(
    settings: Settings,
    packs: dict[str, Manifest],
    models: ModelRegistry,
    builtin_pack_ids: set[str],
    search: SearchService,
) -> tuple[IntentClassifier | None, str | None]:
    """The registry's current version when it fits the served packs (fetched from the database
    into this node's models directory: a node with an empty data directory gets the model here,
    before it reports ready), else the default model directory (version None)."""
    from core.errors import PackDeskError
    from core.learning.registry import version_dir

    current = await models.current()
    if current is not None:
        problem = _version_label_problem(current.labels, packs, builtin_pack_ids)
        if problem:
            logger.warning("intent model version %s not used: %s", current.version_id, problem)
        else:
            try:
                target = await models.materialise(
                    current.version_id, version_dir(settings.models_dir, current.version_id)
                )
                return await asyncio.to_thread(_warm_classifier, settings, target, search), \
                    current.version_id
            except PackDeskError:
                logger.exception("intent model version %s not loaded", current.version_id)
    return await asyncio.to_thread(_load_default_classifier, settings, packs, search), None


def _query_embedder(search: SearchService) -> dict[str, Any]:
    """What an intent head needs: the query embedder whose vectors it classifies (the pipeline
    hands it each question's vector; ``predict`` on text embeds through it)."""
    return {"embed": search.embed_queries, "embedder_id": search.embedder.model_id}


def _warm_classifier(
    settings: Settings, model_dir: Any, search: SearchService
) -> IntentClassifier:
    """A registered version, loaded and warmed (its labels are checked by the caller)."""
    classifier = IntentClassifier(
        model_dir, backend=settings.inference_backend, onnx_cache=settings.onnx_cache_dir,
        **_query_embedder(search),
    )
    classifier.warm_up()
    classifier.predict(["How do I reset my password?"])  # the first request pays nothing
    return classifier


def _label_space(packs: dict[str, Manifest], holder: SwappableClassifier | None) -> Any:
    """The labels feedback may name now: the served packs', the platform's, the model's."""
    from core.intents.labels import builtin_platform_labels
    from core.learning.labels import LabelSpace

    def space() -> LabelSpace:
        known = _expected_labels(packs) | builtin_platform_labels()
        if holder is not None:
            known |= set(holder.labels)
        return LabelSpace.of(known, packs)

    return space


def _model_watcher(
    settings: Settings,
    models: ModelRegistry,
    holder: SwappableClassifier | None,
    packs: dict[str, Manifest],
    builtin_pack_ids: set[str],
    search: SearchService,
) -> ModelWatcher | None:
    if holder is None:  # no intent model at start: routing by retrieval until a restart
        return None
    return ModelWatcher(
        models,
        holder,
        models_dir=settings.models_dir,
        load=lambda model_dir: _warm_classifier(settings, model_dir, search),
        label_problem=lambda version: _version_label_problem(
            version.labels, packs, builtin_pack_ids
        ),
    )
