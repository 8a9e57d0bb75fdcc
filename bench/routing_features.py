"""What routing sees for each question of a set: the classifier's top labels and per-pack scores.

The tuning data of routing (docs/routing.md): the classifier of a prepared data directory
(``var/models/intents/current``) and the installed packs' dense indexes, run directly (no
server) over

- ``clinc-train``: CLINC150 **train** (a stable sample per intent) and ``oos_train``;
- ``support-tune``: the ``tune`` half of the held-out Bitext rows (bench/assistant.py reports
  on the other half);
- ``clinc-val``, ``support-report``: the benchmark's sets, only to check a rule offline before
  the HTTP benchmark (never used to choose a threshold).

Writes ``--out`` (JSON lines: set, text, label, top_k, pack_scores).

    .venv/bin/python bench/routing_features.py --sets clinc-train support-tune --out F.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.assistant import CLINC, clinc_questions, support_rows  # noqa: E402


def clinc_train(per_intent: int) -> list[tuple[str, str, str]]:
    data = json.loads((CLINC / "clinc150_train_val.json").read_text())
    finance = {i for intents in json.loads((CLINC / "finance_domains.json").read_text()).values()
               for i in intents}
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, label in data["train"]:
        by_intent[label].append(text)
    rows = []
    for label, texts in sorted(by_intent.items()):
        texts.sort(key=lambda t: hashlib.sha256(t.encode()).hexdigest())
        kind = "finance" if label in finance else "other"
        rows += [(kind, t, label) for t in texts[:per_intent]]
    rows += [("oos", t, "oos") for t, _ in data["oos_train"]]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "var")
    parser.add_argument("--sets", nargs="+", default=["clinc-train", "support-tune"])
    parser.add_argument("--per-intent", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from api import wiring
    from core.intents.classifier import IntentClassifier
    from core.packs.store import PackStore
    from core.retrieval.search import SearchService
    from core.settings import Settings

    settings = Settings(data_dir=args.data_dir.resolve())
    from core.plugin_manager import get_plugin_manager

    manager = get_plugin_manager()
    store = PackStore(settings)
    embedder = wiring.embedder(settings, manager)
    embedder.warm_up()
    backend = wiring.vector_index_backend(settings, manager)
    search = SearchService(embedder, settings=settings)
    packs = []
    for pack in store.installed():
        search.load_installed_pack(pack, backend, verify=False)
        packs.append(pack.manifest.id)
    classifier = IntentClassifier(args.data_dir.resolve() / "models" / "intents" / "current")
    classifier.warm_up()

    rows: list[tuple[str, str, str, str]] = []
    for name in args.sets:
        if name == "clinc-train":
            rows += [(name, *r) for r in clinc_train(args.per_intent)]
        elif name == "clinc-val":
            rows += [(name, q.set, q.text, q.label) for q in clinc_questions()]
        elif name in ("support-tune", "support-report"):
            half = name.split("-")[1]
            rows += [(name, q.set, q.text, q.label) for q in support_rows(half)]
        else:
            parser.error(f"unknown set {name!r}")
    print(f"{len(rows)} rows over packs {packs}", flush=True)
    with args.out.open("w") as out:
        for start in range(0, len(rows), 256):
            chunk = rows[start:start + 256]
            texts = [r[2] for r in chunk]
            predictions = classifier.predict(texts, top_k=3)
            vectors = search.embed_queries(texts)
            # pack_scores, for a batch: the best cosine per pack of each question.
            best = {}
            for pack_id, searcher in search._packs_for(packs).items():
                top_scores, top_ids = searcher.dense(vectors, 1)
                best[pack_id] = [float(s) if i >= 0 else 0.0
                                 for s, i in zip(top_scores[:, 0], top_ids[:, 0], strict=True)]
            for n, (row, prediction) in enumerate(zip(chunk, predictions, strict=True)):
                scores = {pack_id: values[n] for pack_id, values in best.items()}
                out.write(json.dumps({
                    "source": row[0], "set": row[1], "text": row[2], "label": row[3],
                    "top_k": prediction.top_k, "confidence": prediction.confidence,
                    "predicted": prediction.label, "pack_scores": scores,
                }) + "\n")
            print(f"{start + len(chunk)}/{len(rows)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
