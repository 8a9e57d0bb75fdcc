"""Embed + search latency of one question against the packs installed in a data directory.

Complements bench/retrieval.py (which builds every index itself and measures quality) with a
latency-only run over already-installed packs, so it can be repeated in a minute on a quiet
machine: `python bench/search_latency.py --data-dir var --pack medical`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("var"))
    parser.add_argument("--pack", action="append", default=None)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("search_latency.json"))
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from core.packs.store import PackStore
    from core.retrieval.search import SearchService
    from core.retrieval.searcher import PackSearcher
    from core.settings import Settings
    from plugins.faiss_index import FaissBackend
    from plugins.st_embedder import SentenceTransformerEmbedder

    settings = Settings(_env_prefix="PACKDESK_BENCH_UNUSED_", data_dir=args.data_dir)
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    service = SearchService(embedder, settings=settings)
    installed = {p.manifest.id: p for p in PackStore(settings).installed()}
    pack_ids = args.pack or sorted(installed)
    rows = []
    for pack_id in pack_ids:
        pack = installed[pack_id]
        service.add_pack(
            pack_id, PackSearcher.load(pack.root, pack.manifest, embedder, FaissBackend())
        )
        questions = [
            q for doc in pack.documents() for q in doc.metadata.get("eval_questions", [])[:1]
        ][: args.questions]
        for mode in ("dense", "bm25", "hybrid"):
            service.search(questions[0], pack_ids=[pack_id], k=10, mode=mode)  # warm
            timings = []
            for question in questions:
                started = time.perf_counter()
                service.search(question, pack_ids=[pack_id], k=10, mode=mode)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            rows.append(
                {
                    "pack": pack_id,
                    "mode": mode,
                    "questions": len(timings),
                    "p50_ms": round(statistics.median(timings), 2),
                    "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
                }
            )
    table = Table("pack", "mode", "questions", "p50 ms", "p99 ms", title="embed + search, k=10")
    for row in rows:
        table.add_row(
            row["pack"], row["mode"], str(row["questions"]), str(row["p50_ms"]), str(row["p99_ms"])
        )
    Console().print(table)
    load = os.getloadavg()
    args.out.write_text(
        json.dumps({"rows": rows, "loadavg_at_end": load, "cpu_count": os.cpu_count()}, indent=2)
    )
    print(f"load average at end: {load[0]:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
