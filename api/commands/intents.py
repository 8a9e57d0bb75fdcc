"""``packdesk intents``: train and evaluate the intent classifier."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from api.context import CliContext


@click.group("intents")
def intents_group() -> None:
    """Train and evaluate the intent classifier."""


@intents_group.command("train")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="Training data, .csv (text,label) or .jsonl. Default: installed packs' intents.")
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
def train(obj: CliContext, data_path: Path | None, epochs: int, max_per_label: int | None,
          freeze_layers: int, lora: bool, probe_init: bool, pooling: str,
          label_smoothing: float, learning_rate: float, seed: int,
          out_dir: Path | None) -> None:
    """Fine-tune the bundled MiniLM on intent data and write a calibrated model directory."""
    from core.intents import default_model_dir, examples_from_manifests, load_examples
    from core.intents.training import train_intent_model

    if data_path is not None:
        examples = load_examples(data_path)
    else:
        from core.packs.store import PackStore  # lazily: only needed without --data

        manifests = [item.manifest for item in PackStore(obj.settings).installed()]
        examples = examples_from_manifests(manifests)
    result = train_intent_model(
        examples, out_dir=out_dir or default_model_dir(obj.settings), epochs=epochs,
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
def evaluate(model_dir: Path, data_path: Path) -> None:
    """Print a classification report of a model on labelled data (out_of_scope included)."""
    from sklearn.metrics import classification_report

    from core.intents import IntentClassifier, load_examples

    examples = load_examples(data_path)
    classifier = IntentClassifier(model_dir)
    predictions = classifier.predict([e.text for e in examples])
    gold = [e.label for e in examples]
    predicted = [p.label for p in predictions]
    click.echo(classification_report(gold, predicted, zero_division=0))
    table = Table("threshold", "rows", "accuracy")
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    table.add_row(f"{classifier.threshold:.3f}", str(len(gold)), f"{accuracy:.2%}")
    Console().print(table)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def register(cli: click.Group) -> None:
    cli.add_command(intents_group)
