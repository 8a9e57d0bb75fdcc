"""Retrieval benchmark: every built-in pack, every search mode.

Prints one table (quality: recall@1/5/10, MRR@10, nDCG@10 on the packs' own dataset questions;
cost: index build time and size; speed: embed + search latency p50/p99 for one question and
throughput for batches of 64) and writes ``bench/retrieval.json`` next to this file.

    .venv/bin/python bench/retrieval.py [--pack ID ...] [--work-dir DIR] [--chunk-tokens N]
        [--backend onnx-int8|onnx|torch]

The packs are indexed as ``packdesk prepare`` indexes them: with the inference backend a server
uses (``--backend``, default ``PACKDESK_INFERENCE_BACKEND``'s default), the index kind of each
manifest (HNSW for medical), and a pack source's shipped vectors where they match. Indexes are
built once per (pack, chunking, backend) into ``--work-dir`` and reused by later runs (their
recorded build time is reported again), so fusion settings can be tuned without re-embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.machine import describe as describe_machine  # noqa: E402
from core.packs.documents_io import read_documents  # noqa: E402
from core.packs.manifest import load_manifest  # noqa: E402
from core.retrieval.evaluation import cases_from_documents, evaluate, leaked_questions  # noqa: E402
from core.retrieval.pack_index import IndexMeta, PackIndexer  # noqa: E402
from core.retrieval.search import MODES, SearchService  # noqa: E402
from core.retrieval.searcher import PackSearcher  # noqa: E402
from core.settings import Settings  # noqa: E402
from plugins.faiss_index import FaissBackend  # noqa: E402
from plugins.st_embedder import SentenceTransformerEmbedder  # noqa: E402

HERE = Path(__file__).resolve().parent
LATENCY_QUERIES = 200
BATCH = 64


def built_index(pack_id: str, work: Path, embedder, backend, overrides: dict) -> tuple:
    """Prepare the pack source, build (or reuse) its index: (root, manifest, docs, build_s)."""
    from core.packs.builder import SHIPPED_VECTORS_FILE
    from knowledge_packs.prepare import prepare_pack

    source = prepare_pack(pack_id, work / "sources" / pack_id)
    manifest = load_manifest(source / "manifest.json")
    if overrides:
        manifest = manifest.model_copy(
            update={"index": manifest.index.model_copy(update=overrides)}
        )
    documents = read_documents(source / "documents.jsonl", source=f"{pack_id}/documents.jsonl")
    tag = (
        f"{manifest.index.kind}-{manifest.index.chunk_tokens}-{manifest.index.chunk_overlap}"
        f"-{embedder.backend}"
    )
    root = work / "built" / f"{pack_id}-{tag}"
    timing = root / "build_seconds.txt"
    if not timing.exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        (root / "index").mkdir(parents=True)
        started = time.perf_counter()
        shipped = source / SHIPPED_VECTORS_FILE
        PackIndexer(embedder, backend).build(
            manifest, documents, root / "index",
            shipped_vectors=shipped if shipped.is_file() else None,
        )
        timing.write_text(f"{time.perf_counter() - started:.3f}\n")
    return root, manifest, documents, float(timing.read_text())


def pack_search(pack_id: str, work: Path, backend_name: str) -> tuple:
    """One built-in pack built as ``packdesk prepare`` builds it (:func:`built_index`) and a
    :class:`SearchService` over it alone: ``(service, searcher, manifest, documents)``."""
    embedder = SentenceTransformerEmbedder(
        device="cpu", backend=backend_name, onnx_cache=work / "onnx"
    )
    embedder.warm_up()
    backend = FaissBackend(use_gpu=False)
    root, manifest, documents, _ = built_index(pack_id, work, embedder, backend, {})
    searcher = PackSearcher.load(root, manifest, embedder, backend, verify=False)
    service = SearchService(embedder)
    service.add_pack(pack_id, searcher)
    return service, searcher, manifest, documents


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def latency(service: SearchService, pack_id: str, questions: list[str], mode: str) -> dict:
    for question in questions[:10]:  # warm caches and lazy initialisation
        service.search(question, pack_ids=[pack_id], k=10, mode=mode)
    samples = []
    for question in questions[:LATENCY_QUERIES]:
        started = time.perf_counter()
        service.search(question, pack_ids=[pack_id], k=10, mode=mode)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99_index = min(len(samples) - 1, round(0.99 * (len(samples) - 1)))
    batch = questions[:BATCH] * max(1, (2 * BATCH) // max(1, len(questions[:BATCH])))
    started = time.perf_counter()
    for start in range(0, len(batch), BATCH):
        service.search_batch(batch[start : start + BATCH], pack_ids=[pack_id], k=10, mode=mode)
    throughput = len(batch) / (time.perf_counter() - started)
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[p99_index], 2),
        "batch_qps": round(throughput, 1),
    }


MARKDOWN_COLUMNS = [
    ("pack", "pack"), ("chunks", "chunks"), ("questions", "questions"), ("mode", "mode"),
    ("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"), ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"), ("build_s", "build s"), ("index_mb", "index MB"),
    ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("batch_qps", "batch q/s"),
]  # fmt: skip


def markdown(result: dict) -> str:
    """The table of a result JSON as Markdown (for BENCHMARKS.md)."""
    lines = [
        "| " + " | ".join(header for _, header in MARKDOWN_COLUMNS) + " |",
        "|" + "|".join("---" for _ in MARKDOWN_COLUMNS) + "|",
    ]
    for row in result["rows"]:
        lines.append("| " + " | ".join(str(row[key]) for key, _ in MARKDOWN_COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    from knowledge_packs.prepare import BUILTIN_PACKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", action="append", help="pack id (default: every built-in)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/packdesk-bench"))
    parser.add_argument("--chunk-tokens", type=int)
    parser.add_argument("--chunk-overlap", type=int)
    parser.add_argument("--fusion", default="convex", choices=["convex", "rrf"])
    parser.add_argument("--dense-weight", type=float, default=0.8, help="convex fusion weight")
    parser.add_argument("--weights", default="1,1", help="RRF weights dense,bm25")
    parser.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"],
                        default=Settings.model_fields["inference_backend"].default,
                        help="how documents and queries are embedded (default: a server's)")
    parser.add_argument("--out", type=Path, default=HERE / "retrieval.json")
    parser.add_argument(
        "--markdown", type=Path, help="only print this result JSON as a Markdown table"
    )
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    overrides = {
        key: value
        for key, value in (
            ("chunk_tokens", args.chunk_tokens),
            ("chunk_overlap", args.chunk_overlap),
        )
        if value is not None
    }
    weights = tuple(float(w) for w in args.weights.split(","))

    embedder = SentenceTransformerEmbedder(
        device="cpu", backend=args.backend, onnx_cache=args.work_dir / "onnx"
    )
    embedder.warm_up()
    backend = FaissBackend(use_gpu=False)
    service = SearchService(
        embedder,
        fusion=args.fusion,
        dense_weight=args.dense_weight,
        weights=weights,  # type: ignore[arg-type]
    )
    rows = []
    for pack_id in args.pack or list(BUILTIN_PACKS):
        root, manifest, documents, build_s = built_index(
            pack_id, args.work_dir, embedder, backend, overrides
        )
        searcher = PackSearcher.load(root, manifest, embedder, backend, verify=False)
        service.add_pack(pack_id, searcher)
        cases = cases_from_documents(documents)
        meta = IndexMeta.read(root / "index")
        questions = [case.question for case in cases]
        for mode in MODES:
            report = evaluate(service, pack_id, cases, mode=mode)
            row = {
                "pack": pack_id,
                "documents": len(documents),
                "chunks": meta.chunk_count,
                "chunk_tokens": meta.chunk_tokens,
                "chunk_overlap": meta.chunk_overlap,
                "questions": len(cases),
                "leaked_questions": leaked_questions(documents, cases),
                "mode": mode,
                **{k: round(v, 4) for k, v in report.metrics.items()},
                "build_s": round(build_s, 1),
                "index_mb": round(dir_bytes(root / "index") / 1e6, 2),
                **latency(service, pack_id, questions, mode),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        service.remove_pack(pack_id)

    table = Table(title="PackDesk retrieval benchmark")
    columns = MARKDOWN_COLUMNS
    for _, header in columns:
        table.add_column(header, justify="left" if header in ("pack", "mode") else "right")
    for row in rows:
        table.add_row(*(str(row[key]) for key, _ in columns))
    Console(width=200).print(table)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": describe_machine(),
        "command": "python " + " ".join(["bench/retrieval.py", *sys.argv[1:]]),
        "model": embedder.model_id,
        "backend": args.backend,
        "fusion": (
            {"method": "convex", "dense_weight": args.dense_weight}
            if args.fusion == "convex"
            else {"method": "rrf", "k": service.rrf_k, "weights": list(weights)}
        ),
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
