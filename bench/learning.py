"""Benchmark the learning loop on BANKING77: new intents learned from conversations.

1. Hold 10 of the 77 intents out (the same 10 as bench/intents.py) and train the first model on
   the other 67 (``--recipe head``, the default model kind: an intent head over the query
   embedder's vectors, on every training message; ``--recipe fine-tune``: the fine-tuned MiniLM,
   each intent capped at ``--max-per-label``); register and promote it as the current version.
2. Replay the held-out intents' training messages as customer questions: each is classified by
   the current model and stored as a turn (redacted, encrypted), as ``/v1/ask`` does.
3. For 20 messages per held-out intent, people say what the message was: half by feedback on
   the answer (``correct_intent``), half by an agent resolving a handoff, spread over 4 accounts.
4. ``packdesk intents retrain``'s code path: the learned dataset, a candidate trained on base +
   learned examples, the gate (held-out feedback and the base test split), promotion.

Reports top-1 accuracy on the official test messages of the held-out intents (before: their
labels do not exist, so 0) and of the other 67, before and after, and the retrain's time.
Prints a table, writes bench/learning.json and the "Learning" section of BENCHMARKS.md.
Run: ``nice .venv/bin/python bench/learning.py``.
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.intents import read_split  # noqa: E402
from core.intents.dataset import Example, cap_per_label  # noqa: E402
from core.intents.default import CachedEmbed  # noqa: E402

RESULTS = REPO / "bench" / "learning.json"
ACCOUNTS = 4
LABELLED_PER_INTENT = 20


def top1(classifier, examples: list[Example]) -> float:  # type: ignore[no-untyped-def]
    predictions = classifier.predict([e.text for e in examples], top_k=1)
    return sum(p.top_k[0][0] == e.label for p, e in zip(predictions, examples, strict=True)) \
        / len(examples)


async def run(args: argparse.Namespace, scratch: Path) -> dict:
    from core.conversations.service import ConversationService, NewTurn
    from core.intents.classifier import IntentClassifier
    from core.intents.head import train_intent_head
    from core.intents.training import train_intent_model
    from core.learning.dataset import DatasetPolicy
    from core.learning.feedback import FeedbackService
    from core.learning.labels import LabelSpace
    from core.learning.registry import ModelRegistry
    from core.learning.retrain import Retrainer, RetrainOptions
    from core.ledger.accounts import AccountService
    from core.ledger.db import create_database
    from core.migrations import migrate
    from core.privacy import Redactor, TextCipher, generate_key
    from core.settings import Settings
    from plugins.st_embedder import SentenceTransformerEmbedder

    train, test = read_split("train"), read_split("test")
    intents = sorted({e.label for e in train})
    held = set(random.Random(42).sample(intents, 10))
    base = [e for e in train if e.label not in held]
    base_test = [e for e in test if e.label not in held]
    held_test = [e for e in test if e.label in held]
    results: dict = {"held_out_intents": sorted(held), "args": vars(args),
                     "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg()}

    embedder = SentenceTransformerEmbedder(device="cpu")
    embed = CachedEmbed(embedder)  # the same texts are embedded by the first model and retrain

    def classifier(model_dir: Path):  # type: ignore[no-untyped-def]
        loaded = IntentClassifier(model_dir, embed=embed, embedder_id=embedder.model_id)
        loaded.warm_up()
        return loaded

    # 1. the first model, without the 10 intents (or the one an earlier run trained and kept)
    started = time.perf_counter()
    if args.recipe == "head":
        first_dir = train_intent_head(base, out_dir=scratch / "first", embed=embed,
                                      embedder_id=embedder.model_id,
                                      test_examples=base_test).model_dir
        results["first_training_seconds"] = round(time.perf_counter() - started, 1)
    elif args.first_model:
        first_dir = Path(args.first_model)
        config = json.loads((first_dir / "training_config.json").read_text())
        results["first_training_seconds"] = json.loads(
            (first_dir / "metrics.json").read_text())["training_seconds"]
        results["first_model_reused"] = {"path": str(first_dir), "epochs": config["epochs"],
                                         "max_per_label": args.max_per_label}
    else:
        first_dir = train_intent_model(
            cap_per_label(base, args.max_per_label, 42), out_dir=scratch / "first",
            epochs=args.first_epochs, learning_rate=1e-4, test_examples=base_test,
            show_progress=False,
        ).model_dir
        results["first_training_seconds"] = round(time.perf_counter() - started, 1)
        if args.keep_first:
            import shutil

            shutil.copytree(first_dir, args.keep_first, dirs_exist_ok=True)
    print(f"first model: {results['first_training_seconds']} s", flush=True)

    settings = Settings(_env_prefix="PACKDESK_BENCH_UNUSED_", data_dir=scratch / "data")
    db = create_database(settings)
    await migrate(db)
    registry = ModelRegistry(db)
    first_version = await registry.register(first_dir)
    await registry.promote(first_version.version_id, actor="bench")
    before = classifier(first_dir)
    results["before"] = {"held_out_intents": 0.0 if not set(before.labels) & held
                         else top1(before, held_test),
                         "other_67": top1(before, base_test)}
    print("before:", results["before"], flush=True)

    # 2-3. replay, then feedback and resolutions
    cipher, redactor = TextCipher([generate_key()]), Redactor()
    conversations = ConversationService(db, cipher, retention_days=30)
    labels = LabelSpace.of(set(before.labels), {"finance"})
    feedback = FeedbackService(db, cipher, redactor, conversations, lambda: labels)
    accounts = [(await AccountService(db).create_account(f"shop {i}", "customer"))[0].account_id
                for i in range(ACCOUNTS)]
    rng = random.Random(7)
    replayed = labelled = 0
    for label in sorted(held):
        messages = [e.text for e in train if e.label == label]
        rng.shuffle(messages)
        predictions = before.predict(messages)
        for index, (text, prediction) in enumerate(zip(messages, predictions, strict=True)):
            account = accounts[index % ACCOUNTS]
            gets_label = index < LABELLED_PER_INTENT
            by_agent = gets_label and index % 2 == 1
            turn = await conversations.record_turn(account, None, NewTurn(
                question=redactor.redact(text), answer=redactor.redact("(answer)"),
                intent_label=prediction.label, intent_confidence=prediction.confidence,
                sentiment_compound=0.0, sentiment_label="neutral",
                out_of_scope=prediction.label == "out_of_scope", handoff=by_agent,
                handoff_reason="human_agent" if by_agent else None,
            ))
            assert turn is not None
            replayed += 1
            if by_agent:
                await feedback.resolve_handoff(account, turn.turn_id, intent=label)
            elif gets_label:
                await feedback.give_feedback(account, turn.conversation_id, turn.turn_id,
                                             helpful=False, correct_intent=label)
            labelled += gets_label
    results["replayed_turns"], results["labelled_turns"] = replayed, labelled

    # 4. the gated retrain
    retrainer = Retrainer(registry, feedback, models_dir=settings.models_dir,
                          policy=DatasetPolicy(), embed=embed, embedder_id=embedder.model_id)
    options = RetrainOptions(epochs=args.retrain_epochs, learning_rate=args.retrain_lr,
                             max_per_label=args.max_per_label if args.recipe != "head" else None,
                             warm_start=args.warm_start,
                             freeze_layers=args.freeze_layers)
    report = await retrainer.retrain(base=base, labels=labels, options=options,
                                     base_test=base_test)
    results["retrain"] = report.to_dict()
    results["retrain_load_average"] = os.getloadavg()
    print("\n".join(report.lines()), flush=True)
    after_dir = await registry.materialise(
        await registry.current_version_id() or "", scratch / "after"
    )
    after = classifier(after_dir)
    results["after"] = {"held_out_intents": top1(after, held_test),
                        "other_67": top1(after, base_test)}
    results["held_out_test_rows"], results["other_test_rows"] = len(held_test), len(base_test)
    if report.version is not None and report.status != "promoted":
        # What the gate refused, measured the same way.
        refused = classifier(await registry.materialise(
            report.version.version_id, scratch / "refused"))
        results["refused_candidate"] = {"held_out_intents": top1(refused, held_test),
                                        "other_67": top1(refused, base_test)}
    await db.dispose()
    return results


def table(r: dict) -> str:
    g = r["retrain"]
    gate = g["gate"] or {}
    current, candidate = gate.get("current", {}), gate.get("candidate", {})
    verdict = ": " + "; ".join(gate["reasons"]) if gate.get("reasons") else ""
    return "\n".join([
        "| measure | before | after |", "|---|---|---|",
        f"| held-out intents' test messages ({r['held_out_test_rows']}) | "
        f"{r['before']['held_out_intents']:.2%} | {r['after']['held_out_intents']:.2%} |",
        f"| the other 67 intents' test messages ({r['other_test_rows']}) | "
        f"{r['before']['other_67']:.2%} | {r['after']['other_67']:.2%} |",
        "",
        "| retrain | value |", "|---|---|",
        f"| turns replayed / labelled (feedback + resolutions) | {r['replayed_turns']} / "
        f"{r['labelled_turns']} |",
        f"| learned examples: training / held out for the gate | {g['train_examples']} / "
        f"{g['heldout_examples']} |",
        f"| gate, base split: current -> candidate | {_pct(current.get('base_accuracy'))} -> "
        f"{_pct(candidate.get('base_accuracy'))} |",
        f"| gate, feedback split: current -> candidate | "
        f"{_pct(current.get('feedback_accuracy'))} -> {_pct(candidate.get('feedback_accuracy'))} |",
        f"| gate verdict | {g['status']}{verdict} |",
        f"| retrain time (dataset, training, both evaluations, registration) | "
        f"{g['seconds']:.0f} s (training {g['training_seconds']:.0f} s) |",
        f"| first model's training time | {r['first_training_seconds']:.0f} s |",
    ])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=["head", "fine-tune"], default="head")
    parser.add_argument("--max-per-label", type=int, default=40, help="fine-tune only")
    parser.add_argument("--first-epochs", type=int, default=4)
    parser.add_argument("--retrain-epochs", type=int, default=3)
    parser.add_argument("--retrain-lr", type=float, default=5e-5)
    parser.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--no-markdown", action="store_true")
    parser.add_argument("--first-model", help="reuse a first model an earlier run kept "
                        "(--keep-first) instead of training it again (same --max-per-label)")
    parser.add_argument("--keep-first", help="copy the first model here for later runs")
    parser.add_argument("--freeze-layers", type=int, default=0)
    args = parser.parse_args()
    command = "python bench/learning.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="packdesk-learning-bench-") as scratch:
        results = asyncio.run(run(args, Path(scratch)))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if not args.no_markdown:
        replace_section("Learning", (
            "## Learning\n\n"
            f"BANKING77, 10 intents held out of the first training, machine: {os.cpu_count()}-core "
            f"CPU ({platform.machine()}), date: {date.today().isoformat()}, command: "
            f"`{command.strip()}`.\n\n{table(results)}\n"
        ))


if __name__ == "__main__":
    main()
