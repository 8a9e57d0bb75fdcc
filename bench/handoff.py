"""Benchmark the handoff decision on the labelled set bench/data/handoff.jsonl.

Each row is one customer message: ``text``, ``handoff`` (bool), ``reason`` (the expected reason
code, or null) and ``split`` (``tune``: the rules were adjusted on it; ``test``: never looked at
while tuning). Two detectors are measured on both splits:

- ``baseline``: the rules before issue 13 (``HandoffPolicy.decide`` without the message: the
  top intent and VADER sentiment only);
- ``detector``: the same call with ``message=``, which adds the message signals
  (core/assistant/signals.py).

Each runs twice: with no intent (the message alone: what the tests check) and, when the serving
intent model is there (``var/models/intents/current`` or ``--model-dir``), with the top intent
that model gives each message.

Beside the labelled set, the detector reads the built-in packs' evaluation questions (Ask CFPB,
MedQuAD and the legal glossaries' ``metadata.eval_questions`` in a prepared data directory,
``--data-dir``): plain questions about a subject, none of which should hand off ("What are the
symptoms of breast cancer?"). The share that does is reported per pack.

A single message has no earlier turn, so the ``repeated_low_confidence`` rule never fires here
(tests/core/assistant cover it).

Prints a table, writes bench/handoff.json and the "Handoff" section of BENCHMARKS.md.
Run: ``.venv/bin/python bench/handoff.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.benchmarks_md import replace_section  # noqa: E402
from core.assistant.handoff import Handoff, HandoffPolicy  # noqa: E402
from core.assistant.sentiment import score_sentiment  # noqa: E402
from core.intents.labels import OUT_OF_SCOPE  # noqa: E402

DATA = REPO / "bench" / "data" / "handoff.jsonl"
RESULTS = REPO / "bench" / "handoff.json"
MODEL_DIR = REPO / "var" / "models" / "intents" / "current"
DATA_DIR = REPO / "var"
QUESTION_PACKS = ("finance", "legal", "medical")
SPLITS = ("tune", "test")
TARGET_RECALL = 0.95
TARGET_PRECISION = 0.90


@dataclass(frozen=True)
class Row:
    text: str
    handoff: bool
    reason: str | None
    split: str


def read_rows(path: Path = DATA) -> list[Row]:
    """The labelled messages, in file order."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw["split"] not in SPLITS or bool(raw["reason"]) != bool(raw["handoff"]):
            raise ValueError(f"{path}:{number}: bad row {raw!r}")
        rows.append(Row(raw["text"], bool(raw["handoff"]), raw["reason"], raw["split"]))
    return rows


Intent = tuple[str, float]
Decide = Callable[[str, Intent], Handoff]


def detectors(policy: HandoffPolicy) -> dict[str, Decide]:
    def baseline(text: str, intent: Intent) -> Handoff:
        return policy.decide(
            intent_label=intent[0],
            confidence=intent[1],
            sentiment_compound=score_sentiment(text).compound,
            previous_turns=[],
        )

    def detector(text: str, intent: Intent) -> Handoff:
        return policy.decide(
            intent_label=intent[0],
            confidence=intent[1],
            sentiment_compound=score_sentiment(text).compound,
            previous_turns=[],
            message=text,
        )

    return {"baseline": baseline, "detector": detector}


def evaluate(rows: Sequence[Row], decisions: Sequence[Handoff]) -> dict[str, Any]:
    """Precision, recall, F1, confusion counts and per-reason recall of one run on one split."""
    tp = sum(r.handoff and d.handoff for r, d in zip(rows, decisions, strict=True))
    fp = sum(not r.handoff and d.handoff for r, d in zip(rows, decisions, strict=True))
    fn = sum(r.handoff and not d.handoff for r, d in zip(rows, decisions, strict=True))
    tn = len(rows) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_reason: dict[str, dict[str, Any]] = {}
    for reason in sorted({r.reason for r in rows if r.reason}):
        pairs = [(r, d) for r, d in zip(rows, decisions, strict=True) if r.reason == reason]
        handed = sum(d.handoff for _, d in pairs)
        same = sum(d.reason == reason for _, d in pairs)
        per_reason[reason] = {
            "n": len(pairs),
            "recall": round(handed / len(pairs), 4),
            "same_reason": round(same / len(pairs), 4),
        }
    caught = [(r, d) for r, d in zip(rows, decisions, strict=True) if r.handoff and d.handoff]
    same_reason = sum(r.reason == d.reason for r, d in caught) / len(caught) if caught else 0.0
    errors = [
        {"text": r.text, "expected": r.reason, "got": d.reason}
        for r, d in zip(rows, decisions, strict=True)
        if r.handoff != d.handoff
    ]
    return {
        "n": len(rows),
        "positives": sum(r.handoff for r in rows),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "per_reason_recall": per_reason,
        "same_reason": round(same_reason, 4),
        "reasons_given": dict(Counter(d.reason for d in decisions if d.handoff)),
        "errors": errors,
    }


def classifier_intents(texts: Sequence[str], model_dir: Path) -> list[Intent] | None:
    """The serving intent model's top label and confidence for each text, or None without one."""
    if not (model_dir / "label_map.json").is_file():
        return None
    from core.intents.classifier import IntentClassifier
    from plugins.st_embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(device="cpu")  # an intent head classifies its vectors
    classifier = IntentClassifier(model_dir, embed=embedder.embed, embedder_id=embedder.model_id)
    predictions = classifier.predict(list(texts))
    return [(p.label, p.confidence) for p in predictions]


def subject_questions(data_dir: Path) -> dict[str, list[str]]:
    """Each built-in pack's evaluation questions found under ``data_dir`` (none: skipped)."""
    from bench.assistant import eval_questions

    found = {}
    for pack in QUESTION_PACKS:
        if any((data_dir / "packs" / pack).glob("*/documents.jsonl")):
            found[pack] = [q.text for q in eval_questions(data_dir, pack, 0)]
    return found


def questions_handed_off(policy: HandoffPolicy, data_dir: Path) -> list[dict[str, Any]]:
    """How many plain subject questions the detector (message alone) hands off, per pack."""
    detector = detectors(policy)["detector"]
    out = []
    for pack, texts in subject_questions(data_dir).items():
        decisions = [detector(text, (OUT_OF_SCOPE, 0.0)) for text in texts]
        handed = [(t, d.reason) for t, d in zip(texts, decisions, strict=True) if d.handoff]
        out.append({
            "pack": pack,
            "n": len(texts),
            "handed_off": len(handed),
            "share": round(len(handed) / len(texts), 4) if texts else 0.0,
            "reasons": dict(Counter(reason for _, reason in handed)),
            "examples": [{"text": t, "reason": r} for t, r in handed[:20]],
        })
    return out


def run(rows: Sequence[Row], model_dir: Path, only: str | None,
        data_dir: Path = DATA_DIR) -> dict[str, Any]:
    policy = HandoffPolicy()
    texts = [r.text for r in rows]
    sources: dict[str, list[Intent]] = {"no intent": [(OUT_OF_SCOPE, 0.0)] * len(rows)}
    started = time.perf_counter()
    predicted = classifier_intents(texts, model_dir)
    if predicted is not None:
        sources["serving intent model"] = predicted
    classify_s = time.perf_counter() - started
    runs = []
    for name, decide in detectors(policy).items():
        if only and name != only:
            continue
        for source, intents in sources.items():
            started = time.perf_counter()
            decisions = [decide(text, intent) for text, intent in zip(texts, intents, strict=True)]
            elapsed = time.perf_counter() - started
            for split in SPLITS:
                chosen = [i for i, r in enumerate(rows) if r.split == split]
                result = evaluate([rows[i] for i in chosen], [decisions[i] for i in chosen])
                runs.append({"detector": name, "intent": source, "split": split, **result})
            runs[-1]["ms_per_message"] = round(1000 * elapsed / len(rows), 3)
    return {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()})",
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "command": "python bench/handoff.py",
        "data": str(DATA.relative_to(REPO)),
        "classify_s": round(classify_s, 2) if predicted is not None else None,
        "runs": runs,
        "subject_questions": questions_handed_off(policy, data_dir),
    }


def table(result: dict[str, Any]) -> str:
    reasons = sorted({k for run in result["runs"] for k in run["per_reason_recall"]})
    short = {
        "human_agent_requested": "person",
        "complaint": "complaint",
        "repeated_contact": "repeat",
        "escalation": "escalation",
        "negative_sentiment": "sentiment",
    }
    head = ["detector", "intent", "split", "n", "precision", "recall", "F1", "tp/fp/fn/tn",
            "same reason"]
    head += [f"recall {short.get(r, r)}" for r in reasons]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in result["runs"]:
        c = run["confusion"]
        cells = [
            run["detector"], run["intent"], run["split"], str(run["n"]),
            f"{run['precision']:.3f}", f"{run['recall']:.3f}", f"{run['f1']:.3f}",
            f"{c['tp']}/{c['fp']}/{c['fn']}/{c['tn']}", f"{run['same_reason']:.2f}",
        ]
        for reason in reasons:
            per = run["per_reason_recall"].get(reason)
            cells.append(f"{per['recall']:.2f} ({per['n']})" if per else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Measured while the rules were written (not re-run by this script): how the rules did on new
# phrasings they had not seen, and an embedding classifier tried beside them.
NOTES = """\
How far the held-out number carries: the test split was written first, before any rule, by the
same engineer who then wrote the rules, so it shares their idea of how customers write. While
tuning, six fresh batches of new phrasings (25-41 handoff and 18-26 other messages each) were
written, measured once with the rules of the moment, then added to `tune` and fixed: their
recall before the fixes was 36%, 68%, 63%, 74%, 68% and 59% (the last batch written when the
rules were otherwise final), at 90-96% precision. Expect recall on real traffic well below the
test split's, and grow `tune` from flagged and missed conversations.

Embedding similarity was measured but not added: a logistic regression on the MiniLM query
embedding (the embedder search already loads), fitted on `tune` (C=4; threshold 0.7, the least
with precision >= 0.95 in 5-fold cross-validation on `tune`), OR-ed with the rules, gave test
recall 1.000 at precision 0.961, and on the last fresh batch recall 0.971 at precision 0.943
(rules alone 0.588 and 0.909). It needs the question's vector in `Assistant.ask` (computed in
`_answer` today) and the exemplars embedded at start-up in `api/services.py`; that is the next
step for recall on unseen phrasings.
"""


def questions_table(result: dict[str, Any]) -> str:
    lines = ["| pack | questions | handed off | share | reasons |", "|---|---:|---:|---:|---|"]
    for row in result.get("subject_questions", []):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(row["reasons"].items())) or "-"
        lines.append(f"| {row['pack']} | {row['n']:,} | {row['handed_off']} | "
                     f"{100 * row['share']:.2f}% | {reasons} |")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    test = [r for r in result["runs"] if r["detector"] == "detector" and r["split"] == "test"]
    verdicts = []
    for run in test:
        met = run["recall"] >= TARGET_RECALL and run["precision"] >= TARGET_PRECISION
        verdicts.append(
            f"{run['intent']}: recall {run['recall']:.3f}, precision {run['precision']:.3f} "
            f"({'met' if met else 'not met'})"
        )
    load = ", ".join(str(x) for x in result["loadavg_at_start"])
    return (
        "## Handoff\n\n"
        f"Machine: {result['machine']} VM, shared; load average at start {load} (taken under "
        f"load from other jobs when above 2). Date: {result['date']}. Command: "
        f"`.venv/bin/python bench/handoff.py` (writes `bench/handoff.json`).\n\n"
        f"Data: `{result['data']}`, messages written for this project, each labelled with "
        "whether it should hand off and why; the rules were tuned on `tune` only. `test` was "
        "written before any rule and no rule was changed because of it (it was run twice while "
        "the work went on, and the baseline's errors on it were seen). `baseline` is the "
        "decision before issue 13 (top intent "
        "and VADER only); `detector` adds the message signals (core/assistant/signals.py). "
        "`no intent`: the message alone; `serving intent model`: with the top intent of "
        "`var/models/intents/current`. Per-reason columns: the share of messages expected to "
        "hand off for that reason that hand off (for any reason), and how many there are.\n\n"
        + table(result)
        + "\n\nTarget on the test split (recall >= 0.95 at precision >= 0.90), detector: "
        + "; ".join(verdicts)
        + ". `same reason`: the share of caught handoffs whose reason code is the expected one "
        "(several reasons often fit one message; the first rule in docs/privacy.md wins).\n\n"
        "Plain questions about a subject should not hand off. The built-in packs' evaluation "
        "questions (Ask CFPB, MedQuAD, legal glossaries) through the detector, message alone. "
        "They showed the defect the `subject_question` signal fixes (VADER scored the "
        "subject's words, \"cancer\", \"violence\", \"unfair\", as the customer's mood: 3.9% "
        "of medical questions handed off); nothing was tuned on them. Of the labelled set, the "
        "sentiment rule alone decides five messages (three handoffs in `tune`, a false "
        "positive in each split); the signal turns both false positives (\"what's the fraud "
        "line?\", \"How many times can I enter the wrong PIN...?\") into no handoff, which "
        "moves `test` precision from 0.980 to 1.000:\n\n"
        + questions_table(result)
        + "\n\n"
        + NOTES
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument("--only", choices=("baseline", "detector"), default=None)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="a prepared data directory, for the packs' evaluation questions")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    result = run(read_rows(), args.model_dir, args.only, args.data_dir)
    print(table(result))
    print(questions_table(result))
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.no_markdown and args.only is None:
        replace_section("Handoff", markdown(result))


if __name__ == "__main__":
    main()
