"""Intent lift on the medical pack: how much ranking by the kind of question asked helps, and
how its weight and temperature were chosen without looking at the questions reported.

    .venv/bin/python bench/intent_lift.py [--work-dir DIR] [--out bench/intent_lift.json]

The pack is built as ``packdesk prepare`` builds it (bench/retrieval.py's ``built_index``: the
server's backend, HNSW, shipped vectors). Every question is searched once in hybrid mode with
the lift off, keeping all fused candidates; each (weight, temperature) of the grid then
rescores those candidates the way :func:`core.retrieval.intent_lift.lifted` does. The questions
are split in two halves by a hash of their text: the setting is chosen on half A (the smallest
weight within 0.001 nDCG@10 of the best there), and half B, the former 3,000-answer subset's
questions (the reference before the pack held every MedQuAD answer) and all questions are
reported for it. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from offline import BENCH, run_header  # before core: no model hub, the repository importable
from rich.console import Console
from rich.table import Table

from core.retrieval.evaluation import (
    cases_from_documents,
    mean_metrics,
    ranked_documents,
    score_ranking,
)
from core.retrieval.intent_lift import lifted
from core.settings import Settings

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
TEMPERATURES = (0.01, 0.02, 0.03, 0.05)
TIE = 0.001  # nDCG@10 differences below this are noise on ~7,500 questions
PACK = "medical"


def half_of(question: str) -> str:
    return "A" if hashlib.sha256(question.encode("utf-8")).digest()[0] % 2 == 0 else "B"


def main() -> None:
    from onnx_backend import former_medical_subset_questions
    from retrieval import pack_search

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/packdesk-bench"))
    parser.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"],
                        default=Settings.model_fields["inference_backend"].default)
    parser.add_argument("--out", type=Path, default=BENCH / "intent_lift.json")
    args = parser.parse_args()

    service, searcher, _, documents = pack_search(PACK, args.work_dir, args.backend)
    lift = searcher.intent_lift
    if lift is None:
        raise SystemExit(f"the {PACK} pack has no intent lift (index.intent_lift in its manifest)")
    searcher.intent_lift = None  # candidates without the lift; the grid applies it below

    cases = cases_from_documents(documents)
    questions = [case.question for case in cases]
    vectors = service.embed_queries(questions)
    candidates = []
    for start in range(0, len(cases), 64):
        rows = slice(start, start + 64)
        hits = service.search_batch(questions[rows], pack_ids=[PACK], k=service.max_top_k,
                                    mode="hybrid", query_vectors=vectors[rows])
        candidates += [[((PACK, hit.chunk_id), hit.score) for hit in row] for row in hits]
    document_of = [chunk.document_id for chunk in searcher.chunks]
    subset = former_medical_subset_questions()
    groups = {
        "half A (chooses)": [half_of(q) == "A" for q in questions],
        "half B": [half_of(q) == "B" for q in questions],
        "former subset": [q in subset for q in questions],
        "all": [True] * len(questions),
    }

    results = []
    for temperature in TEMPERATURES:
        for weight in WEIGHTS:
            setting = dataclasses.replace(lift, weight=weight, temperature=temperature)
            scores = []
            for case, vector, ranked in zip(cases, vectors, candidates, strict=True):
                order = lifted(ranked, {PACK: setting}, vector) if weight else ranked
                documents_ranked = ranked_documents(document_of[chunk] for (_, chunk), _ in order)
                scores.append(score_ranking(documents_ranked, case.relevant))
            row = {"weight": weight, "temperature": temperature}
            for name, members in groups.items():
                chosen = [s for s, keep in zip(scores, members, strict=True) if keep]
                metrics = mean_metrics(chosen)
                row[name] = {"questions": len(chosen), "ndcg@10": round(metrics["ndcg@10"], 4),
                             "recall@1": round(metrics["recall@1"], 4)}
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    # The gentlest setting within TIE of the best on half A: a smaller weight overrides the
    # passages' own scores less when the question's kind is guessed wrong.
    top = max(row["half A (chooses)"]["ndcg@10"] for row in results)
    best = min(
        (row for row in results if row["half A (chooses)"]["ndcg@10"] >= top - TIE),
        key=lambda row: (row["weight"], -row["half A (chooses)"]["ndcg@10"]),
    )
    table = Table(title=f"Intent lift, {PACK} pack, hybrid nDCG@10 (R@1)")
    table.add_column("temperature", justify="right")
    table.add_column("weight", justify="right")
    for name in groups:
        table.add_column(name, justify="right")
    for row in results:
        mark = " *" if row is best else ""
        table.add_row(str(row["temperature"]), f"{row['weight']}{mark}", *(
            f"{row[name]['ndcg@10']:.4f} ({row[name]['recall@1']:.3f})" for name in groups))
    Console(width=160).print(table)
    shipped = {"weight": lift.weight, "temperature": lift.temperature}
    print(f"chosen on half A: weight {best['weight']}, temperature {best['temperature']}; "
          f"the pack ships {shipped}")
    args.out.write_text(json.dumps({
        **run_header(),
        "backend": args.backend,
        "pack": PACK,
        "questions": len(cases),
        "shipped": shipped,
        "chosen_on_half_a": {"weight": best["weight"], "temperature": best["temperature"]},
        "centroid_accuracy": centroid_accuracy(lift, cases, vectors, documents),
        "rows": results,
    }, indent=2) + "\n")


def centroid_accuracy(lift, cases, vectors: np.ndarray, documents) -> float:
    """How often the question's most likely intent is its answer's (the lift's classifier)."""
    intent_of = {doc.id: doc.metadata.get("intent") for doc in documents}
    right = 0
    for case, vector in zip(cases, vectors, strict=True):
        predicted = lift.names[int(lift.probabilities(vector).argmax())]
        right += any(intent_of.get(doc_id) == predicted for doc_id in case.relevant)
    return round(right / len(cases), 4)


if __name__ == "__main__":
    main()
