"""Benchmark the intent classifier on BANKING77 (official test split).

Three measurements, one run:
1. baseline: frozen sentence embeddings of the same model (sentence-transformers, mean
   pooling) + logistic regression;
2. full fine-tune (core.intents.train_intent_model) on all 77 intents;
3. out-of-scope: 10 of the 77 intents held out entirely, fine-tune on the other 67, calibrate
   with the target-precision rule (no out-of-scope examples: the unseen intents stay unseen),
   and report the share of unseen-intent test messages rejected and the in-scope accuracy cost.

Prints a table, writes bench/intents.json (after each phase, so a long run can be polled) and
adds an "Intents" section to BENCHMARKS.md. Run: ``.venv/bin/python bench/intents.py``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.benchmarks_md import replace_section  # noqa: E402
from core.intents.dataset import Example  # noqa: E402
from core.intents.inference import base_model_path  # noqa: E402
from core.intents.training import train_intent_model  # noqa: E402

PROJECT_DATA = REPO / "knowledge_packs" / "finance" / "data"
SHARED_DATA = REPO.parent / "shared" / "data" / "banking77"
RESULTS = REPO / "bench" / "intents.json"
PREFIX = "finance:"


def read_split(name: str) -> list[Example]:
    """Rows of BANKING77 ``train``/``test``: the project's gzipped copy first, else shared data."""
    candidates = [
        *sorted(PROJECT_DATA.glob(f"*banking77*{name}*.csv.gz")),
        PROJECT_DATA / f"{name}.csv.gz",
        SHARED_DATA / f"{name}.csv",
    ]
    for path in candidates:
        if path.is_file():
            raw = path.read_bytes()
            text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")
            rows = csv.DictReader(io.StringIO(text))
            return [
                Example(row["text"], PREFIX + (row.get("category") or row["label"]).split(":")[-1],
                        f"{path}:{i}")
                for i, row in enumerate(rows, start=2)
            ]
    raise SystemExit(f"BANKING77 {name} split not found in {PROJECT_DATA} or {SHARED_DATA}")


def baseline(train: list[Example], test: list[Example]) -> dict:
    """Frozen embeddings + logistic regression."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    started = time.perf_counter()
    encoder = SentenceTransformer(str(base_model_path()), device="cpu")
    x_train = encoder.encode([e.text for e in train], batch_size=64, normalize_embeddings=True)
    x_test = encoder.encode([e.text for e in test], batch_size=64, normalize_embeddings=True)
    classifier = LogisticRegression(C=10.0, max_iter=3000)
    classifier.fit(x_train, [e.label for e in train])
    predicted = classifier.predict(x_test)
    gold = [e.label for e in test]
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, average="macro")),
        "training_seconds": round(time.perf_counter() - started, 1),
    }


def fine_tune(
    train: list[Example], test: list[Example], out: Path, epochs: int, lr: float,
    probe_init: bool = False, pooling: str = "mean", label_smoothing: float = 0.0,
) -> dict:
    result = train_intent_model(
        train, out_dir=out, epochs=epochs, learning_rate=lr, batch_size=32, max_length=64,
        early_stopping_patience=2, test_examples=test, probe_init=probe_init, pooling=pooling,
        label_smoothing=label_smoothing,
    )
    test_metrics = result.metrics["test"]
    return {
        "accuracy": test_metrics["accuracy"],
        "macro_f1": test_metrics["macro_f1"],
        "training_seconds": result.metrics["training_seconds"],
        "epochs_run": result.metrics["epochs_run"],
        "threshold": result.threshold,
        "in_scope_accuracy_at_threshold": test_metrics["at_threshold"]["in_scope_accuracy"],
    }


def out_of_scope(train: list[Example], test: list[Example], out: Path, epochs: int,
                 lr: float, pooling: str = "mean", probe_init: bool = False,
                 label_smoothing: float = 0.0) -> dict:
    from core.intents.classifier import IntentClassifier
    from core.intents.labels import OUT_OF_SCOPE

    intents = sorted({e.label for e in train})
    unseen = set(random.Random(42).sample(intents, 10))
    seen_train = [e for e in train if e.label not in unseen]
    seen_test = [e for e in test if e.label not in unseen]
    unseen_test = [e for e in test if e.label in unseen]
    result = train_intent_model(
        seen_train, out_dir=out, epochs=epochs, learning_rate=lr, batch_size=32, max_length=64,
        early_stopping_patience=2, test_examples=seen_test, pooling=pooling,
        probe_init=probe_init, label_smoothing=label_smoothing,
    )
    classifier = IntentClassifier(out)
    classifier.warm_up()
    rejected = classifier.predict([e.text for e in unseen_test])
    at = result.metrics["test"]["at_threshold"]
    return {
        "unseen_intents": sorted(unseen),
        "threshold": result.threshold,
        "calibration": result.metrics["calibration"]["method"],
        "unseen_rejected": sum(p.label == OUT_OF_SCOPE for p in rejected) / len(rejected),
        "in_scope_accuracy_no_threshold": at["in_scope_accuracy_no_threshold"],
        "in_scope_accuracy_at_threshold": at["in_scope_accuracy"],
        "training_seconds": result.metrics["training_seconds"],
    }


def table(results: dict) -> str:
    lines = ["| model | test accuracy | macro-F1 | training time |", "|---|---|---|---|"]
    for key, name in (("baseline", "frozen embeddings + logistic regression"),
                      ("fine_tune", "full fine-tune (MiniLM-L6, Trainer, "
                                    f"{results.get('args', {}).get('pooling', 'cls')} pooling)")):
        if key in results:
            r = results[key]
            lines.append(f"| {name} | {r['accuracy']:.2%} | {r['macro_f1']:.4f} | "
                         f"{r['training_seconds']:.0f} s |")
    if "out_of_scope" in results:
        r = results["out_of_scope"]
        lines += [
            "",
            "| out-of-scope (10 of 77 intents unseen) | value |", "|---|---|",
            f"| calibrated threshold ({r['calibration']}) | {r['threshold']:.3f} |",
            f"| unseen-intent messages rejected as out_of_scope | {r['unseen_rejected']:.2%} |",
            f"| in-scope accuracy without threshold | {r['in_scope_accuracy_no_threshold']:.2%} |",
            f"| in-scope accuracy at threshold | {r['in_scope_accuracy_at_threshold']:.2%} |",
        ]
    return "\n".join(lines)


def write_benchmarks_md(results: dict, command: str) -> None:
    section = (
        "## Intents\n\n"
        f"BANKING77 (10,003 train / 3,080 official test), machine: {os.cpu_count()}-core CPU "
        f"({platform.machine()}), date: {date.today().isoformat()}, command: `{command}`.\n\n"
        f"{table(results)}\n"
    )
    replace_section("Intents", section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--oos-epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--skip", nargs="*", default=[], choices=["baseline", "fine_tune", "oos"])
    parser.add_argument("--probe-init", action=argparse.BooleanOptionalAction, default=True,
                        help="start the heads from a linear probe (LP-FT), both fine-tunes")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--pooling", choices=["mean", "cls"], default="mean",
                        help="what the head classifies: mean of token vectors, or BERT's [CLS]")
    args = parser.parse_args()
    command = "python bench/intents.py " + " ".join(sys.argv[1:])
    train, test = read_split("train"), read_split("test")
    # A skipped phase keeps its numbers from the previous run's bench/intents.json.
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.skip else {}
    results: dict = {key: previous[key] for key in ("baseline", "fine_tune", "out_of_scope")
                     if key in previous}
    results.update({"train_rows": len(train), "test_rows": len(test),
                    "cpu_count": os.cpu_count(), "args": vars(args)})
    with tempfile.TemporaryDirectory(prefix="packdesk-intents-bench-") as scratch:
        phases = [("baseline", lambda: baseline(train, test)),
                  ("fine_tune", lambda: fine_tune(train, test, Path(scratch) / "full",
                                                  args.epochs, args.lr, args.probe_init,
                                                  args.pooling, args.label_smoothing)),
                  ("out_of_scope", lambda: out_of_scope(train, test, Path(scratch) / "oos",
                                                        args.oos_epochs, args.lr,
                                                        args.pooling, args.probe_init,
                                                        args.label_smoothing))]
        skipped = {{"oos": "out_of_scope"}.get(name, name) for name in args.skip}
        for name, run in phases:
            if name in skipped:
                continue
            print(f"== {name}", flush=True)
            results[name] = run()
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            print(json.dumps(results[name]), flush=True)
    print(table(results))
    write_benchmarks_md(results, command.strip())


if __name__ == "__main__":
    main()
