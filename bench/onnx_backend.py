"""ONNX Runtime against torch: the quality change next to the speed change.

For each inference backend (torch, onnx, onnx-int8) on the prepared installation (``./var``, as
``packdesk prepare`` leaves it):

- retrieval: nDCG@10 (hybrid, the mode ``/v1/ask`` uses) on every installed pack's own
  questions, the pack indexes as built (by torch) and the *queries* embedded by the backend:
  exactly what switching ``PACKDESK_INFERENCE_BACKEND`` on a running installation does;
- intents: accuracy of the default intent model on the BANKING77 official test split (3,080
  messages, the finance pack's ``finance:*`` labels; top trained label, no threshold);
- speed: milliseconds per call of the query embedder and of the classifier for 1 text and for
  a batch of 32 (median of repeated calls, after warm-up). For an intent head the classifier's
  time is what it adds on the server: the head over vectors the embedder already computed.

``--before DIR`` adds a reference row first: another prepared data directory (its pack
indexes, its intent model, ``--before-model`` to name another) with the torch backend, so a
change of the defaults (issue 16: the intent head, int8 document vectors) is measured against
what it replaces in the same run; every other row is compared with the first.

``--medical-subset`` also scores the medical pack on the questions of the former 3,000-answer
subset (the rule ``knowledge_packs.vendor`` used before the pack held every MedQuAD answer:
2,700 questions), the figure the pack was compared with when it grew; ``--packs`` limits the
retrieval part to some packs.

Prints a table, writes ``bench/onnx_backend.json`` and the "ONNX Runtime" section of
BENCHMARKS.md. Run: ``.venv/bin/python bench/onnx_backend.py [--data-dir var]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.benchmarks_md import replace_section  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")
QUALITY_TOLERANCE = 0.005  # "keep it off by default unless quality holds within 0.5 points"
SPEED_TEXTS = [
    "Can a debt collector contact me at work?",
    "What are the symptoms of glaucoma?",
    "My card payment was declined, why?",
    "What does habeas corpus mean?",
    "hi",
    "I want to speak to a human",
    "How long does a late payment stay on my credit report?",
    "what is the weather in Paris tomorrow",
]


def timed_ms(call, repeats: int) -> float:
    call()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(samples), 2)


# The medical pack held 3,000 MedQuAD answers until issue 16 (knowledge_packs.vendor's rule then:
# a non-empty focus, answers up to 8,000 characters, round-robin over the (qtype, collection)
# strata in sha256(id) order); its questions are the comparison with the pack before it grew.
FORMER_MEDICAL_SUBSET_SIZE = 3000
FORMER_MEDICAL_MAX_ANSWER_CHARS = 8000
MEDICAL_SUBSET_KEY = "medical (former subset)"


def former_medical_subset_questions() -> set[str]:
    """The eval questions of the former 3,000-answer medical subset (2,700 distinct)."""
    from collections import defaultdict

    from knowledge_packs.convert.common import read_jsonl_gz, stable_hash
    from knowledge_packs.convert.medical import DATA_FILE

    rows = read_jsonl_gz(REPO / "knowledge_packs" / "medical" / "data" / DATA_FILE)
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if row["focus"].strip() and len(row["answer"]) <= FORMER_MEDICAL_MAX_ANSWER_CHARS:
            strata[(row["qtype"], row["collection"])].append(row)
    for members in strata.values():
        members.sort(key=lambda row: stable_hash(row["id"]))
    chosen: list[dict] = []
    depth = 0
    while len(chosen) < FORMER_MEDICAL_SUBSET_SIZE:
        added = False
        for key in sorted(strata):
            if depth < len(strata[key]) and len(chosen) < FORMER_MEDICAL_SUBSET_SIZE:
                chosen.append(strata[key][depth])
                added = True
        if not added:
            break
        depth += 1
    return {row["question"].strip() for row in chosen}


def retrieval_quality(settings, embedder, packs: set[str] | None = None,
                      medical_subset: bool = False) -> dict[str, float]:
    from core.packs.store import PackStore
    from core.retrieval.evaluation import cases_from_documents, evaluate
    from core.retrieval.search import SearchService
    from plugins.faiss_index import FaissBackend

    service = SearchService(embedder, settings=settings)
    scores = {}
    for installed in PackStore(settings).installed():
        pack_id = installed.manifest.id
        if packs is not None and pack_id not in packs:
            continue
        # installed() verified every file against the signed manifest.
        service.load_installed_pack(installed, FaissBackend(use_gpu=False), verify=False)
        cases = cases_from_documents(installed.documents())
        if cases:
            report = evaluate(service, pack_id, cases, mode="hybrid")
            scores[pack_id] = round(report.metrics["ndcg@10"], 4)
            print(f"{pack_id}: {len(cases)} questions, {json.dumps(report.to_json())}",
                  flush=True)
        if medical_subset and pack_id == "medical":
            questions = former_medical_subset_questions()
            subset = [case for case in cases if case.question in questions]
            report = evaluate(service, pack_id, subset, mode="hybrid")
            scores[MEDICAL_SUBSET_KEY] = round(report.metrics["ndcg@10"], 4)
            print(f"{MEDICAL_SUBSET_KEY}: {len(subset)} questions, "
                  f"{json.dumps(report.to_json())}", flush=True)
        service.remove_pack(pack_id)
    return scores


def intent_accuracy(classifier) -> float:
    from bench.intents import read_split

    test = read_split("test")
    labels = set(classifier.labels)
    rows = [row for row in test if row.label in labels]
    predictions = classifier.predict([row.text for row in rows])
    hits = sum(p.top_k[0][0] == row.label for p, row in zip(predictions, rows, strict=True))
    return round(hits / len(rows), 4)


def measure(backend: str, settings, model_dir: Path, name: str | None = None,
            packs: set[str] | None = None, medical_subset: bool = False) -> dict:
    from core.intents.classifier import IntentClassifier
    from plugins.st_embedder import SentenceTransformerEmbedder

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(device="cpu", backend=backend,
                                           onnx_cache=settings.onnx_cache_dir)
    embedder.warm_up()
    classifier = IntentClassifier(model_dir, device="cpu", backend=backend,
                                  onnx_cache=settings.onnx_cache_dir, embed=embedder.embed,
                                  embedder_id=embedder.model_id)
    classifier.warm_up()
    load_s = time.perf_counter() - started
    batch = (SPEED_TEXTS * 4)[:32]
    if classifier.reads_query_vector:  # the server hands the head the query's vector
        one, many = embedder.embed(SPEED_TEXTS[:1]), embedder.embed(batch)
        classify_1 = timed_ms(lambda: classifier.predict_vectors(one), 100)
        classify_32 = timed_ms(lambda: classifier.predict_vectors(many), 20)
    else:
        classify_1 = timed_ms(lambda: classifier.predict(SPEED_TEXTS[:1]), 100)
        classify_32 = timed_ms(lambda: classifier.predict(batch), 20)
    result = {
        "backend": name or f"{backend}, {classifier.kind}",
        "data_dir": str(settings.data_dir),
        "intent_model": str(model_dir),
        "load_s": round(load_s, 1),
        "embed_1_ms": timed_ms(lambda: embedder.embed(SPEED_TEXTS[:1]), 100),
        "embed_32_ms": timed_ms(lambda: embedder.embed(batch), 20),
        "classify_1_ms": classify_1,
        "classify_32_ms": classify_32,
        "intent_accuracy": intent_accuracy(classifier),
        "ndcg@10": retrieval_quality(settings, embedder, packs, medical_subset),
    }
    print(json.dumps(result), flush=True)
    return result


def verdicts(rows: list[dict]) -> dict[str, dict]:
    """Per row after the first: the largest quality drop against the first row (the reference:
    torch, or ``--before``), and whether it is within 0.5 points."""
    reference = rows[0]
    out = {}
    for row in rows[1:]:
        drops = {"intent_accuracy": reference["intent_accuracy"] - row["intent_accuracy"]}
        for pack, score in row["ndcg@10"].items():
            if pack in reference["ndcg@10"]:
                drops[f"ndcg@10 {pack}"] = reference["ndcg@10"][pack] - score
        worst = max(drops.values())
        out[row["backend"]] = {"worst_drop_points": round(100 * worst, 2),
                               "within_half_point": worst <= QUALITY_TOLERANCE}
    return out


def markdown(report: dict) -> str:
    rows = report["rows"]
    packs = sorted(rows[0]["ndcg@10"])
    head = ["configuration", "embed 1 / 32 (ms)", "classify 1 / 32 (ms)", "intent acc.",
            *[f"nDCG@10 {p}" for p in packs]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join([
            row["backend"],
            f"{row['embed_1_ms']} / {row['embed_32_ms']}",
            f"{row['classify_1_ms']} / {row['classify_32_ms']}",
            f"{row['intent_accuracy']:.2%}",
            *[f"{row['ndcg@10'][p]:.4f}" if p in row["ndcg@10"] else "n/a" for p in packs],
        ]) + " |")
    return "\n".join(lines)


def write_benchmarks_md(report: dict) -> None:
    verdict = "; ".join(
        f"{name}: worst quality drop {v['worst_drop_points']} points "
        f"({'within' if v['within_half_point'] else 'outside'} 0.5)"
        for name, v in report["verdicts"].items()
    )
    section = (
        "## ONNX Runtime\n\n"
        f"Machine: {report['machine']}, date: {report['date']}, command: `{report['command']}`. "
        "Queries embedded and intents classified by each configuration; pack indexes as its "
        "data directory built them; intent accuracy of its intent model on BANKING77's "
        "official test split. A head's classify time is what it adds to the query embedding "
        "(the server hands it the vector).\n\n"
        f"{markdown(report)}\n\n{verdict}.\n"
    )
    replace_section("ONNX Runtime", section)


def main() -> int:
    from core.intents.default import default_model_dir
    from core.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "var")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=HERE / "onnx_backend.json")
    parser.add_argument("--before", type=Path, default=None,
                        help="a reference data directory measured first with torch")
    parser.add_argument("--before-model", type=Path, default=None,
                        help="the reference's intent model (default: its default model)")
    parser.add_argument("--packs", default=None,
                        help="comma-separated pack ids to score (default: every installed pack)")
    parser.add_argument("--medical-subset", action="store_true",
                        help="also score medical on the former 3,000-answer subset's questions")
    parser.add_argument("--markdown-only", action="store_true",
                        help="rewrite the BENCHMARKS.md section from --out, measure nothing")
    args = parser.parse_args()
    if args.markdown_only:
        write_benchmarks_md(json.loads(args.out.read_text()))
        return 0
    settings = Settings(_env_prefix="PACKDESK_BENCH_UNUSED_", data_dir=args.data_dir)
    model_dir = default_model_dir(settings)
    if not model_dir.exists():
        print(f"no intent model in {args.data_dir}: run `packdesk prepare` first", file=sys.stderr)
        return 2
    packs = set(args.packs.split(",")) if args.packs else None
    rows = []
    if args.before is not None:
        before = Settings(_env_prefix="PACKDESK_BENCH_UNUSED_", data_dir=args.before)
        before_model = args.before_model or default_model_dir(before)
        rows.append(measure("torch", before, before_model, name="before: torch, "
                            + json.loads((before_model / "training_config.json").read_text())
                            .get("kind", "fine-tuned"), packs=packs,
                            medical_subset=args.medical_subset))
    rows += [measure(backend, settings, model_dir, packs=packs,
                     medical_subset=args.medical_subset)
             for backend in args.backends.split(",")]
    report = {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()})",
        "command": " ".join(["python bench/onnx_backend.py", *sys.argv[1:]]),
        "rows": rows,
        "verdicts": verdicts(rows) if rows and rows[0]["backend"].startswith(("torch", "before"))
        else {},
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = Table(title="ONNX Runtime vs torch")
    for column in ("backend", "embed 1/32 ms", "classify 1/32 ms", "intent acc.", "nDCG@10"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["backend"], f"{row['embed_1_ms']} / {row['embed_32_ms']}",
                      f"{row['classify_1_ms']} / {row['classify_32_ms']}",
                      f"{row['intent_accuracy']:.2%}",
                      " ".join(f"{k} {v:.4f}" for k, v in sorted(row["ndcg@10"].items())))
    Console(width=200).print(table)
    for name, verdict in report["verdicts"].items():
        print(f"{name}: worst drop {verdict['worst_drop_points']} points, "
              f"within 0.5: {verdict['within_half_point']}")
    if report["verdicts"]:
        write_benchmarks_md(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
