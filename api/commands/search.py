"""``packdesk search`` and ``packdesk eval retrieval``: search and evaluate installed packs."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import click

from api.context import CliContext

if TYPE_CHECKING:
    from core.retrieval.search import SearchService

MODE_CHOICE = click.Choice(["dense", "bm25", "hybrid"])
SNIPPET_CHARS = 240


def load_search_service(
    context: CliContext, pack_ids: list[str], *, rebuild_index: bool = False
) -> tuple[SearchService, dict]:
    """A SearchService with the installed packs ``pack_ids`` loaded (all installed when empty).

    Returns:
        The service and ``{pack_id: InstalledPack}``.
    Raises:
        PackNotFound: a pack id is not installed.
        IndexMismatch: a pack's index was made with another model and no rebuild was asked.
    """
    from api import wiring
    from core.packs.store import PackStore
    from core.retrieval.search import SearchService

    settings = context.settings
    manager = context.plugin_manager()
    store = PackStore(settings)
    installed = (
        {pack_id: store.get(pack_id) for pack_id in dict.fromkeys(pack_ids)}
        if pack_ids
        else {pack.manifest.id: pack for pack in store.installed()}
    )
    embedder = wiring.embedder(settings, manager)
    embedder.warm_up()
    backend = wiring.vector_index_backend(settings, manager)
    service = SearchService(embedder, settings=settings)
    for pack_id, pack in installed.items():
        rebuild_dir = None
        if rebuild_index:
            # Outside the signed pack: its files stay exactly as signed.
            rebuild_dir = (
                settings.data_dir / "index-cache" / pack_id / pack.manifest.version / "index"
            )
        service.load_installed_pack(
            pack,
            backend,
            rebuild_dir=rebuild_dir,
            verify=False,  # PackStore.get verified every file against the signed manifest
        )
    return service, installed


@click.command("search")
@click.argument("query")
@click.option("--pack", "packs", multiple=True, help="Pack id to search (repeatable; default all).")
@click.option("-k", "--top-k", "top_k", type=int, default=5, show_default=True)
@click.option("--mode", type=MODE_CHOICE, default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.option(
    "--rebuild-index",
    is_flag=True,
    help="Rebuild (into the data dir) the index of a pack made with another embedding model.",
)
@click.pass_obj
def search_command(
    context: CliContext,
    query: str,
    packs: tuple[str, ...],
    top_k: int,
    mode: str,
    as_json: bool,
    rebuild_index: bool,
) -> None:
    """Search installed packs and print ranked results with scores and citations."""
    from dataclasses import asdict

    service, _ = load_search_service(context, list(packs), rebuild_index=rebuild_index)
    hits = service.search(query, pack_ids=service.pack_ids(), k=top_k, mode=mode)
    if as_json:
        click.echo(json.dumps([asdict(hit) for hit in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        click.echo("no results")
        return
    for rank, hit in enumerate(hits, start=1):
        sides = []
        if hit.dense_score is not None:
            sides.append(f"dense {hit.dense_score:.3f}")
        if hit.bm25_score is not None:
            sides.append(f"bm25 {hit.bm25_score:.3f}")
        detail = f" ({', '.join(sides)})" if sides and mode == "hybrid" else ""
        click.echo(f"{rank}. [{hit.pack_id}] {hit.title}  score {hit.score:.4f}{detail}")
        snippet = textwrap.shorten(hit.text, SNIPPET_CHARS, placeholder=" ...")
        click.echo(textwrap.indent(textwrap.fill(snippet, 96), "   "))
        source = hit.source_url or "(no source URL)"
        click.echo(f"   source: {source}  [document {hit.document_id}, part {hit.position + 1}]")


@click.group("eval")
def eval_group() -> None:
    """Measure quality on evaluation sets."""


@eval_group.command("retrieval")
@click.option("--pack", "pack_id", required=True, help="Installed pack id to evaluate.")
@click.option(
    "--mode",
    "modes",
    type=MODE_CHOICE,
    multiple=True,
    help="Search mode (repeatable; default: all three).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def eval_retrieval(
    context: CliContext, pack_id: str, modes: tuple[str, ...], as_json: bool
) -> None:
    """Recall@1/5/10, MRR@10 and nDCG@10 on the pack's own evaluation questions."""
    from core.retrieval.evaluation import METRICS, cases_from_documents, evaluate, leaked_questions

    service, installed = load_search_service(context, [pack_id])
    documents = installed[pack_id].documents()
    cases = cases_from_documents(documents)
    leaks = leaked_questions(documents, cases)
    reports = []
    for mode in modes or ("dense", "bm25", "hybrid"):
        report = evaluate(service, pack_id, cases, mode=mode)
        report.leaked_questions = leaks
        reports.append(report)
    if as_json:
        click.echo(json.dumps([report.to_json() for report in reports], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"retrieval on pack {pack_id}: {len(cases)} questions")
    table.add_column("mode")
    for name in METRICS:
        table.add_column(name, justify="right")
    for report in reports:
        table.add_row(report.mode, *(f"{report.metrics[name]:.4f}" for name in METRICS))
    Console(width=120).print(table)
    if leaks:
        click.echo(f"warning: {leaks} questions appear verbatim in their answer's indexed text")


def register(cli: click.Group) -> None:
    """Attach ``search`` and ``eval`` to the root command group."""
    cli.add_command(search_command)
    cli.add_command(eval_group)
