"""Gold citations of brief answers, on every eval question of a pack, per inference backend.

    .venv/bin/python bench/citations.py [--pack finance] [--backend onnx-int8 ...]
        [--work-dir DIR] [--out bench/citations.json]

bench/assistant.py measures how often a brief answer cites the question's gold document on 150
questions per pack through the real server (routing included), so a change of a few questions
moves it by points. This runs the same answer path without the server, on *all* of a pack's
eval questions: the pack's hybrid search (top 5, the assistant's default), the composer's
sentence shortlist, sentence vectors from the query embedder, ``select_sentences``; a question
counts when a chosen sentence comes from a gold document. It reports the 150 questions
bench/assistant.py asks (the first by SHA-256 of the text) apart from the others. The pack is
built per backend as ``packdesk prepare`` builds it (bench/retrieval.py's ``built_index``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from offline import BENCH, run_header  # before core: no model hub, the repository importable
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from core.assistant.compose import candidate_sentences, select_sentences, shortlist
from core.retrieval.evaluation import EvalCase, cases_from_documents
from core.retrieval.search import SearchService

ASSISTANT_SAMPLE = 150  # bench/assistant.py's EVAL_PER_PACK
TOP_K = 5  # the assistant's default top_k


def gold_cited(service: SearchService, embedder, pack_id: str, case: EvalCase) -> bool:
    vector = service.embed_queries([case.question])[0]
    hits = service.search(case.question, pack_ids=[pack_id], k=TOP_K, mode="hybrid",
                          query_vector=vector)
    if not hits:
        return False
    candidates = shortlist(candidate_sentences([hit.text for hit in hits]), case.question)
    if not candidates:  # the assistant answers with the best passage, whole
        return hits[0].document_id in case.relevant
    scores = embedder.embed([c.text for c in candidates], batch_size=len(candidates)) @ vector
    chosen = select_sentences(candidates, np.asarray(scores))
    return any(hits[sentence.passage].document_id in case.relevant for sentence in chosen)


def main() -> None:
    from retrieval import pack_search

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="finance")
    parser.add_argument("--backend", action="append", choices=["onnx-int8", "onnx", "torch"])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/packdesk-bench"))
    parser.add_argument("--out", type=Path, default=BENCH / "citations.json")
    args = parser.parse_args()

    rows = []
    for backend_name in args.backend or ["onnx-int8", "torch"]:
        service, _, _, documents = pack_search(args.pack, args.work_dir, backend_name)
        embedder = service.embedder
        cases = sorted(cases_from_documents(documents),
                       key=lambda case: hashlib.sha256(case.question.encode()).hexdigest())
        cited = [gold_cited(service, embedder, args.pack, case)
                 for case in tqdm(cases, desc=backend_name, unit="question")]
        sample, rest = cited[:ASSISTANT_SAMPLE], cited[ASSISTANT_SAMPLE:]
        row = {
            "backend": backend_name,
            "document_backend": getattr(embedder, "document_backend", backend_name),
            "questions": len(cited),
            "assistant_sample": {"questions": len(sample), "gold_cited": round(np.mean(sample), 4)},
            "others": {"questions": len(rest), "gold_cited": round(np.mean(rest), 4)},
            "all": {"questions": len(cited), "gold_cited": round(np.mean(cited), 4)},
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    table = Table(title=f"Gold document cited by the brief answer, {args.pack} eval questions")
    for header in ("questions (query / document backend)", "assistant's 150", "the others", "all"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(f"{row['backend']} / {row['document_backend']}",
                      *(f"{row[key]['gold_cited']:.1%} of {row[key]['questions']}"
                        for key in ("assistant_sample", "others", "all")))
    Console(width=140).print(table)
    args.out.write_text(json.dumps({
        **run_header(),
        "pack": args.pack,
        "rows": rows,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
