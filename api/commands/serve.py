"""``packdesk serve`` (the HTTP server) and ``packdesk run`` (prepare everything, then serve)."""

from __future__ import annotations

import json
import os
from typing import Any

import click
from rich.console import Console

from api.context import CliContext

# soft_wrap: keys and the curl line must stay on one line to be copied.
console = Console(stderr=True, soft_wrap=True)
DEMO_KEYS_FILE = "demo_keys.json"


# In-flight requests get this long to finish after the drain; then the worker stops anyway.
GRACEFUL_SHUTDOWN_S = 30
# A worker that does not answer the supervisor's ping for this long is replaced. Generous: a
# worker busy with model forward passes on a small machine answers late but is not stuck.
WORKER_HEALTHCHECK_S = 30


@click.command("serve")
@click.option("--host", default=None, help="Bind address (default: PACKDESK_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: PACKDESK_PORT, 8000).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes on this port, each with its own models (uvicorn's multiprocess "
    "supervisor restarts one that dies). More than one needs PACKDESK_DATABASE_URL on "
    "PostgreSQL; see docs/deploy.md.",
)
@click.pass_obj
def serve(obj: CliContext, host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API with the installed packs (run `packdesk prepare` first)."""
    import logging

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = obj.settings
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": "warning",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if workers == 1:
        from api.app import create_app
        from api.workers import limit_blas_threads

        limit_blas_threads()
        uvicorn.run(create_app(settings), **options)
        return
    if not settings.resolved_database_url().startswith("postgresql"):
        raise click.UsageError(
            "--workers > 1 needs PACKDESK_DATABASE_URL on PostgreSQL: workers hear each other's "
            "changes through it (SQLite has one writer and no notifications)"
        )
    from api.workers import SETTINGS_ENV, settings_to_env

    # The workers are spawned (fresh interpreters): they read the resolved settings here.
    os.environ[SETTINGS_ENV] = settings_to_env(settings)
    console.print(f"[bold]PackDesk[/bold]: {workers} worker processes on {options['port']}")
    uvicorn.run(
        "api.workers:worker_app",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        **options,
    )


@click.command("prepare")
@click.option("--skip-intents", is_flag=True, help="Do not train the default intent model.")
@click.pass_obj
def prepare(obj: CliContext, skip_intents: bool) -> None:
    """Prepare the installation: signing key, built-in packs, intent model, demo accounts."""
    _prepare(obj, skip_intents=skip_intents)


@click.command("run")
@click.pass_obj
@click.pass_context
def run(ctx: click.Context, obj: CliContext) -> None:
    """Prepare everything (idempotent) and start the server: what `make run` does.

    With no billing configured (neither PACKDESK_BILLING_PROVIDER nor a Stripe key) it runs the
    local TEST MODE provider, and says so loudly; `packdesk serve` would refuse to start.
    """
    from core.ledger.billing import TEST_MODE_WARNING, stripe_key_configured

    settings = obj.settings
    if settings.billing_provider is None and not stripe_key_configured(settings):
        settings.billing_provider = "local"
    if settings.billing_provider == "local":
        console.print(
            f"[bold red]{TEST_MODE_WARNING}[/bold red] (PACKDESK_BILLING_PROVIDER=local; "
            "set PACKDESK_BILLING_PROVIDER=stripe with the Stripe key and webhook secret "
            "for real payments)"
        )
    _prepare(obj, skip_intents=False)
    ctx.invoke(serve)


def _prepare(obj: CliContext, *, skip_intents: bool) -> None:
    import asyncio

    from api import wiring
    from core.packs.bootstrap import prepare_packs
    from core.packs.discovery import discover_pack_paths

    settings = obj.settings
    manager = obj.plugin_manager()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]PackDesk[/bold] data directory: {settings.data_dir.resolve()}")
    paths = [found.path for found in discover_pack_paths(manager, settings)]
    prepared = prepare_packs(
        settings,
        paths,
        index_builder=wiring.pack_index_builder(settings, manager),
        progress=lambda line: console.print(f"  {line}"),
    )
    for pack in prepared:
        state = "built and installed" if pack.built else "up to date"
        console.print(f"  pack {pack.pack_id} {pack.version}: {state}")
    if not skip_intents:
        from core.intents.default import ensure_default_model
        from core.packs.store import PackStore

        manifests = [installed.manifest for installed in PackStore(settings).installed()]
        # The embedder the server will use: the domain head classifies its query vectors.
        model_dir = ensure_default_model(
            settings, manifests, embedder=wiring.embedder(settings, manager)
        )
        console.print(f"  intent model: {model_dir}; domain model: {settings.models_dir}/domain")
        from api.commands.intents import register_default_model

        # Every node serves the registry's current version (core.learning.registry).
        version_id, promoted = asyncio.run(register_default_model(settings, model_dir, manifests))
        console.print(f"  intent model version {version_id}"
                      + (" registered and promoted" if promoted else " registered"))
    if settings.inference_backend != "torch":
        _export_onnx(settings, wiring.embedder(settings, manager), skip_intents=skip_intents)
    asyncio.run(_ensure_demo_accounts(obj))


def _export_onnx(settings: Any, embedder: Any, *, skip_intents: bool) -> None:
    """Export (once; cached by weights) the ONNX graphs the server will run, so its start
    stays fast."""
    from core.intents.classifier import IntentClassifier
    from core.intents.default import default_model_dir

    embedder.warm_up()
    model_dir = default_model_dir(settings)
    if not skip_intents and model_dir.exists():
        IntentClassifier(model_dir, backend=settings.inference_backend,
                         onnx_cache=settings.onnx_cache_dir).warm_up()
    console.print(f"  {settings.inference_backend} models ready in {settings.onnx_cache_dir}")


async def _ensure_demo_accounts(obj: CliContext) -> None:
    from core.ledger.accounts import AccountService
    from core.ledger.db import create_database
    from core.migrations import migrate

    settings = obj.settings
    keys_file = settings.data_dir / DEMO_KEYS_FILE
    if keys_file.exists():
        keys = json.loads(keys_file.read_text())
        console.print(f"  demo accounts exist; their keys are in {keys_file}")
    else:
        db = create_database(settings)
        await migrate(db)
        accounts = AccountService(db)
        keys = {}
        for scope in ("admin", "customer", "publisher"):
            _, api_key = await accounts.create_account(f"demo {scope}", scope)
            keys[scope] = api_key
        await db.dispose()
        # Demo credentials only: kept so a developer can find them again (mode 0600).
        fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out, indent=2)
        console.print(f"  demo accounts created (keys shown once here, kept in {keys_file}):")
    for scope, key in keys.items():
        console.print(f"    {scope:9} {key}")
    base = f"http://{settings.host}:{settings.port}"
    console.print(
        "\nAsk the assistant:\n"
        f"  curl -s {base}/v1/ask -H 'Authorization: Bearer {keys['customer']}' "
        "-H 'Content-Type: application/json' "
        "-d '{\"question\": \"I need to change my shipping address\"}'\n"
    )


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(prepare)
    cli.add_command(run)
