"""``packdesk intents``: train and evaluate the intent classifier; learn from conversations
(dataset, retrain through the gate, versions, promote, rollback)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from api.context import CliContext
from core.settings import Settings

if TYPE_CHECKING:
    from core.intents.dataset import Example
    from core.learning.labels import LabelSpace
    from core.learning.registry import ModelRegistry
    from core.learning.retrain import Retrainer


@click.group("intents")
def intents_group() -> None:
    """Train and evaluate the intent classifier."""


@intents_group.command("train")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="Training data, .csv (text,label) or .jsonl. Default: installed packs' intents.")
@click.option("--recipe", type=click.Choice(["head", "fine-tune"]), default="head",
              show_default=True,
              help="head: a logistic regression over the query embedder's vectors (no model "
                   "pass of its own per question; seconds to train). fine-tune: fine-tune the "
                   "bundled MiniLM (a second model pass per question; minutes to train). The "
                   "options below apply to fine-tune only.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--max-per-label", type=click.IntRange(min=2), default=None,
              help="Cap the examples of each label.")
@click.option("--freeze-layers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Freeze the embeddings and the lower N encoder layers.")
@click.option("--lora", is_flag=True, help="Train LoRA adapters (merged into the saved model).")
@click.option("--probe-init/--no-probe-init", default=True, show_default=True,
              help="Start the head from a linear probe of the frozen features (LP-FT).")
@click.option("--pooling", type=click.Choice(["mean", "cls"]), default="mean", show_default=True,
              help="What the head classifies: the mean of the token vectors (what the bundled "
                   "sentence model was trained for) or BERT's [CLS] pooler output.")
@click.option("--label-smoothing", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.1,
              show_default=True, help="Spread this share of each target over the other labels.")
@click.option("--learning-rate", type=float, default=1e-4, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Model directory. Default: the configured intent model directory.")
@click.pass_obj
def train(obj: CliContext, data_path: Path | None, recipe: str, epochs: int,
          max_per_label: int | None, freeze_layers: int, lora: bool, probe_init: bool,
          pooling: str, label_smoothing: float, learning_rate: float, seed: int,
          out_dir: Path | None) -> None:
    """Train an intent model on intent data and write a calibrated model directory."""
    from core.intents import default_model_dir, examples_from_manifests, load_examples
    from core.intents.head import train_intent_head
    from core.intents.training import train_intent_model

    if data_path is not None:
        examples = load_examples(data_path)
    else:
        from core.packs.store import PackStore  # lazily: only needed without --data

        manifests = [item.manifest for item in PackStore(obj.settings).installed()]
        examples = examples_from_manifests(manifests)
    out_dir = out_dir or default_model_dir(obj.settings)
    if recipe == "head":
        embedder = _query_embedder(obj)
        result = train_intent_head(
            examples, out_dir=out_dir, embed=embedder.embed, embedder_id=embedder.model_id,
            seed=seed,
        )
    else:
        result = train_intent_model(
            examples, out_dir=out_dir, epochs=epochs,
            learning_rate=learning_rate, max_per_label=max_per_label,
            freeze_layers=freeze_layers, lora=lora, probe_init=probe_init, pooling=pooling,
            label_smoothing=label_smoothing, seed=seed,
        )
    test = result.metrics["test"]
    at = test.get("at_threshold", {})
    click.echo(f"model: {result.model_dir}")
    click.echo(f"labels: {len(result.labels)}  test accuracy: {_pct(test.get('accuracy'))}  "
               f"macro-F1: {_num(test.get('macro_f1'))}")
    click.echo(f"out-of-scope threshold: {result.threshold:.3f} "
               f"({result.metrics['calibration']['method']}); in-scope accuracy at threshold: "
               f"{_pct(at.get('in_scope_accuracy'))}; out-of-scope recall: "
               f"{_pct(at.get('out_of_scope_recall'))}")
    click.echo(f"training time: {result.metrics['training_seconds']:.1f} s")


@intents_group.command("eval")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True)
@click.option("--data", "data_path", type=click.Path(path_type=Path), required=True)
@click.pass_obj
def evaluate(obj: CliContext, model_dir: Path, data_path: Path) -> None:
    """Print a classification report of a model on labelled data (out_of_scope included)."""
    from sklearn.metrics import classification_report

    from core.intents import IntentClassifier, load_examples

    examples = load_examples(data_path)
    embedder = _query_embedder(obj)
    classifier = IntentClassifier(model_dir, embed=embedder.embed, embedder_id=embedder.model_id)
    predictions = classifier.predict([e.text for e in examples])
    gold = [e.label for e in examples]
    predicted = [p.label for p in predictions]
    click.echo(classification_report(gold, predicted, zero_division=0))
    table = Table("threshold", "rows", "accuracy")
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    table.add_row(f"{classifier.threshold:.3f}", str(len(gold)), f"{accuracy:.2%}")
    Console().print(table)


def _query_embedder(obj: CliContext) -> Any:
    """The query embedder the server uses (an intent head classifies its vectors)."""
    from api import wiring

    return wiring.embedder(obj.settings, obj.plugin_manager())


# --- learning from conversations (docs/intents.md, "Learning") ---------------------------------


@intents_group.command("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print every row (accepted and not) as JSON.")
@click.pass_obj
def dataset(obj: CliContext, as_json: bool) -> None:
    """Show what the next retrain would add: labels, counts, and rows not used (with why)."""
    report = asyncio.run(_dataset(obj.settings))
    if as_json:
        click.echo(json.dumps({
            "accepted": [asdict(item) for item in report.accepted],
            "rejected": [asdict(item) for item in report.rejected],
            "labels": [asdict(item) for item in report.labels],
            "data_sha256": report.data_sha256,
        }, indent=2))
        return
    table = Table("label", "new", "accepted", "held out", "accounts", "waiting")
    for row in report.labels:
        table.add_row(row.label, "yes" if row.new_label else "", str(row.accepted),
                      str(row.held_out), str(row.accounts), str(row.waiting))
    Console().print(table)
    reasons: dict[str, int] = {}
    for rejected in report.rejected:
        key = rejected.reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    click.echo(f"accepted: {len(report.accepted)} examples "
               f"({len(report.examples('heldout'))} held out for the gate); "
               f"not used: {len(report.rejected)}")
    for reason, count in sorted(reasons.items()):
        click.echo(f"  {count} x {reason}")


async def _dataset(settings: Settings) -> Any:
    async with learning_runtime(settings) as runtime:
        return await runtime.retrainer.dataset(base=runtime.base, labels=runtime.labels)


@intents_group.command("retrain")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--learning-rate", type=float, default=5e-5, show_default=True)
@click.option("--max-per-label", type=click.IntRange(min=2), default=None,
              help="Cap of the base data per label (default: as the current model was trained).")
@click.option("--warm-start/--from-base", default=True, show_default=True,
              help="Start from the current model's encoder, or from the bundled base model.")
@click.option("--tolerance", type=click.FloatRange(0.0, 1.0, max_open=True), default=None,
              help="How much base accuracy a candidate may lose (default: "
                   "PACKDESK_LEARNING_GATE_TOLERANCE, 0.005).")
@click.option("--no-promote", is_flag=True,
              help="Register the candidate and report; promote nothing.")
@click.option("--every", type=str, default=None,
              help="Repeat forever at this interval (e.g. 24h, 90m, 3600s): a schedule.")
@click.option("--json", "as_json", is_flag=True, help="Print each report as one JSON line.")
@click.pass_obj
def retrain(obj: CliContext, epochs: int, learning_rate: float, max_per_label: int | None,
            warm_start: bool, tolerance: float | None, no_promote: bool, every: str | None,
            as_json: bool) -> None:
    """Train a candidate on the base data plus the learned examples; promote it only through
    the gate (better on held-out feedback, not worse than the tolerance on the base split)."""
    from core.learning.retrain import RetrainOptions

    settings = obj.settings
    options = RetrainOptions(
        epochs=epochs, learning_rate=learning_rate, max_per_label=max_per_label,
        warm_start=warm_start, promote=not no_promote, show_progress=not as_json,
        tolerance=settings.learning_gate_tolerance if tolerance is None else tolerance,
    )
    interval = parse_interval(every) if every else None
    while True:
        report = asyncio.run(_retrain(settings, options, _query_embedder(obj)))
        if as_json:
            click.echo(json.dumps(report.to_dict()))
        else:
            for line in report.lines():
                click.echo(line)
        if interval is None:
            return
        click.echo(f"next retrain in {every}", err=True)
        time.sleep(interval)


async def _retrain(settings: Settings, options: Any, embedder: Any) -> Any:
    from core.intents.default import default_model_dir

    async with learning_runtime(settings, embedder) as runtime:
        if not runtime.base:
            raise click.ClickException("no installed packs: nothing to train on "
                                       "(run `packdesk prepare`)")
        return await runtime.retrainer.retrain(
            base=runtime.base, labels=runtime.labels, options=options,
            fallback_model_dir=default_model_dir(settings), actor="cli",
        )


def parse_interval(value: str) -> float:
    """``24h``, ``90m``, ``3600s`` or ``3600`` as seconds (at least 60)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an interval like 24h, 90m or 3600s",
                                 param_hint="--every") from None
    if not 60 <= seconds <= 366 * 86400:
        raise click.BadParameter(f"{value!r}: choose between 1 minute and a year",
                                 param_hint="--every")
    return seconds


@intents_group.command("versions")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.pass_obj
def versions(obj: CliContext, limit: int) -> None:
    """List intent model versions, newest first; * marks the current one."""
    rows = asyncio.run(_versions(obj.settings, limit))
    # Plain columns, not a rich table: version ids must stay whole to be copied into `promote`.
    click.echo("  version                           created           status      labels  "
               "base acc.  feedback acc.  data sha256")
    for version in rows:
        gate = (version.gate or {}).get("candidate", {})
        base = gate.get("base_accuracy", version.metrics.get("test", {}).get("accuracy"))
        click.echo(f"{'*' if version.current else ' '} {version.version_id:33} "
                   f"{version.created_at:%Y-%m-%d %H:%M}  {version.status:10}  "
                   f"{len(version.labels):6}  {_pct(base):>9}  "
                   f"{_pct(gate.get('feedback_accuracy')):>13}  {version.data_sha256[:12]}")


async def _versions(settings: Settings, limit: int) -> list[Any]:
    async with learning_runtime(settings) as runtime:
        return await runtime.registry.list(limit=limit)


@intents_group.command("promote")
@click.argument("version_id")
@click.pass_obj
def promote(obj: CliContext, version_id: str) -> None:
    """Make VERSION the serving intent model (running servers swap it in within
    PACKDESK_MODEL_CHECK_SECONDS)."""
    version = asyncio.run(_promote(obj.settings, version_id))
    click.echo(f"current intent model: {version.version_id}")


async def _promote(settings: Settings, version_id: str) -> Any:
    async with learning_runtime(settings) as runtime:
        return await runtime.registry.promote(version_id, actor="cli")


@intents_group.command("rollback")
@click.pass_obj
def rollback(obj: CliContext) -> None:
    """Serve the version that was current before the current one."""
    version = asyncio.run(_rollback(obj.settings))
    click.echo(f"current intent model: {version.version_id}")


async def _rollback(settings: Settings) -> Any:
    async with learning_runtime(settings) as runtime:
        return await runtime.registry.rollback(actor="cli")



@dataclass
class LearningRuntime:
    registry: ModelRegistry
    retrainer: Retrainer
    base: list[Example]
    labels: LabelSpace


@asynccontextmanager
async def learning_runtime(
    settings: Settings, embedder: Any = None
) -> AsyncIterator[LearningRuntime]:
    """Open (and migrate) the database and build the learning services; closed on exit.

    ``embedder``: the query embedder (a retrain of an intent head needs it)."""
    from core.conversations.service import ConversationService
    from core.intents.dataset import examples_from_manifests
    from core.intents.labels import builtin_platform_labels, intent_labels
    from core.learning.dataset import DatasetPolicy
    from core.learning.feedback import FeedbackService
    from core.learning.labels import LabelSpace
    from core.learning.registry import ModelRegistry
    from core.learning.retrain import Retrainer
    from core.ledger.db import create_database
    from core.migrations import migrate
    from core.packs.store import PackStore
    from core.privacy import Redactor, load_conversation_cipher

    manifests = [item.manifest for item in PackStore(settings).installed()]
    db = create_database(settings)
    try:
        await migrate(db)
        registry = ModelRegistry(db)
        cipher = load_conversation_cipher(settings)
        conversations = ConversationService(db, cipher, retention_days=settings.retention_days)
        current = await registry.current()
        known = intent_labels(manifests) | builtin_platform_labels()
        if current is not None:
            known |= set(current.labels)
        labels = LabelSpace.of(known, {manifest.id for manifest in manifests})
        feedback = FeedbackService(db, cipher, Redactor(), conversations, lambda: labels)
        policy = DatasetPolicy(
            min_per_label=settings.learning_min_per_label,
            min_per_new_label=settings.learning_min_per_new_label,
            max_per_account=settings.learning_max_per_account,
            holdout_fraction=settings.learning_holdout_fraction,
        )
        retrainer = Retrainer(
            registry, feedback, models_dir=settings.models_dir, policy=policy,
            embed=embedder.embed if embedder is not None else None,
            embedder_id=embedder.model_id if embedder is not None else None,
        )
        base = examples_from_manifests(manifests) if manifests else []
        yield LearningRuntime(registry, retrainer, base, labels)
    finally:
        await db.dispose()


async def register_default_model(
    settings: Settings, model_dir: Path, manifests: list[Any]
) -> tuple[str, bool]:
    """Register the default model ``packdesk prepare`` trained as a version (once per training
    run) and promote it when nothing is current or the current version is stale.

    Returns:
        (its version id, whether it was promoted now).
    """
    from core.intents.labels import intent_labels
    from core.learning.registry import register_trained_model

    async with learning_runtime(settings) as runtime:
        version, promoted = await register_trained_model(
            runtime.registry, model_dir, installed_labels=intent_labels(manifests),
            actor="prepare",
        )
    return version.version_id, promoted


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def register(cli: click.Group) -> None:
    cli.add_command(intents_group)
