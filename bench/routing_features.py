"""What routing sees for each question of a set: the classifier's top labels and per-pack scores.

The tuning data of routing (docs/routing.md): the classifier of a prepared data directory
(``var/models/intents/current``) and the installed packs' dense indexes, run directly (no
server) over

- ``clinc-train``: CLINC150 **train** (a stable sample per intent) and ``oos_train``;
- ``support-tune``: the ``tune`` half of the held-out Bitext rows (bench/assistant.py reports
  on the other half);
- ``clinc-val``, ``support-report``: the benchmark's sets, only to check a rule offline before
  the HTTP benchmark (never used to choose a threshold);
- ``eval-finance``: the finance pack's eval questions, set ``trained`` (intent examples: the
  heads trained on them, so they may tune finance routing) or ``held_out`` (report only).

Writes ``--out`` (JSON lines: set, text, label, top_k, pack_scores, and with ``--domain`` the
domain head's probabilities).

``--domain``: the domain head (core/intents/domain.py) is trained on the installed packs' rows
the way ``packdesk prepare`` builds it; a row that is one of its training rows (CLINC150 train,
``oos_train``) gets its **out-of-fold** probabilities (5-fold cross-validation: scored by a model
that never saw it), any other row those of the model trained on every row. ``--from F.jsonl``
reuses the classifier features of an earlier run and only adds the domain probabilities.

    .venv/bin/python bench/routing_features.py --sets clinc-train support-tune --domain \
        --out F.jsonl
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

from bench.assistant import CLINC, clinc_questions, eval_questions, support_rows  # noqa: E402


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
    parser.add_argument("--domain", action="store_true",
                        help="add the domain head's (out-of-fold) probabilities")
    parser.add_argument("--cache", type=Path, default=None,
                        help="a .npy file keeping the embedded domain training rows")
    parser.add_argument("--from", dest="from_file", type=Path, default=None,
                        help="features of an earlier run: only add the domain probabilities")
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
    if args.from_file is not None:
        features = [json.loads(line) for line in args.from_file.read_text().splitlines()]
        add_domain(features, [p.manifest for p in store.installed()], search, args.cache)
        args.out.write_text("".join(json.dumps(f) + "\n" for f in features))
        return 0
    classifier = IntentClassifier(args.data_dir.resolve() / "models" / "intents" / "current",
                                  embed=embedder.embed, embedder_id=embedder.model_id)
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
        elif name == "eval-finance":
            # The finance pack's eval questions: "trained" ones are intent examples (a tuning
            # set for finance routing), the others report (bench/routing_fit.py --agreeing).
            rows += [(name, "trained" if q.trained else "held_out", q.text, q.label)
                     for q in eval_questions(args.data_dir.resolve(), "finance", 0)]
        else:
            parser.error(f"unknown set {name!r}")
    print(f"{len(rows)} rows over packs {packs}", flush=True)
    written = []
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
            written.append({
                "source": row[0], "set": row[1], "text": row[2], "label": row[3],
                "top_k": prediction.top_k, "confidence": prediction.confidence,
                "predicted": prediction.label, "pack_scores": scores,
            })
        print(f"{start + len(chunk)}/{len(rows)}", flush=True)
    if args.domain:
        add_domain(written, [p.manifest for p in store.installed()], search, args.cache)
    args.out.write_text("".join(json.dumps(f) + "\n" for f in written))
    return 0


def add_domain(features: list[dict], manifests: list, search: object,
               cache: Path | None = None) -> None:
    """Set ``features[i]["domain"]``: out-of-fold for training rows, else the full model's."""
    import numpy as np

    from core.intents.domain import (
        NONE,
        domain_rows,
        exemplar_mask,
        fit_domain_model,
        out_of_fold_proba,
    )

    embed = search.embed_queries  # type: ignore[attr-defined]

    def embed_all(texts: list[str]) -> np.ndarray:
        return np.concatenate([embed(texts[i:i + 256]) for i in range(0, len(texts), 256)])

    rows = domain_rows(manifests)
    labels = [r.label for r in rows]
    if cache is not None and cache.exists() and len(np.load(cache)) == len(rows):
        vectors = np.load(cache)
    else:
        print(f"domain head: embedding {len(rows)} training rows", flush=True)
        vectors = embed_all([r.text for r in rows])
        if cache is not None:
            np.save(cache, vectors)
    classes, oof = out_of_fold_proba(vectors, labels)
    fold = out_of_fold_assignment(vectors, labels)
    full = fit_domain_model(vectors, labels)
    assert tuple(full.classes) == classes
    index = {r.text: i for i, r in enumerate(rows)}
    queries = embed_all([f["text"][:2000] for f in features])
    proba = full.predict_proba(queries)
    packs = [c for c in classes if c != NONE]
    trained = np.array([
        f["source"].startswith("clinc-train") and f["text"] in index for f in features
    ])
    own_folds = np.array([
        fold[index[f["text"]]] if t else -1 for f, t in zip(features, trained, strict=True)
    ])
    # Support from the exemplars a model that never saw the row would have: its own fold's
    # rows left out (a training row is its own nearest neighbour otherwise). ``none`` too
    # (the rows the head keeps of it): how close the question is to the questions no pack
    # should take.
    kept = exemplar_mask(vectors, labels)
    support = class_support(queries, vectors[kept], [lb for lb, k in zip(labels, kept, strict=True)
                                                     if k], fold[kept], own_folds, [*packs, NONE])
    for n, feature in enumerate(features):
        values = oof[index[feature["text"]]] if trained[n] else proba[n]
        feature["domain"] = {c: round(float(v), 5) for c, v in zip(classes, values, strict=True)}
        feature["domain_support"] = {c: round(float(support[c][n]), 5) for c in support}


def class_support(queries, vectors, labels, fold, own_folds, classes):  # type: ignore[no-untyped-def]
    """``{class: (n,) mean cosine of the nearest SUPPORT_NEIGHBOURS training rows of it}``.

    :meth:`DomainModel.support`, with the rows of ``own_folds[i]`` left out for query ``i``
    (-1: none left out).
    """
    import numpy as np

    from core.intents.domain import SUPPORT_NEIGHBOURS

    labels_array = np.asarray(labels)
    columns = {c: np.flatnonzero(labels_array == c) for c in classes}
    result = {c: np.zeros(len(queries), dtype=np.float32) for c in classes if len(columns[c])}
    for start in range(0, len(queries), 512):
        similarity = queries[start:start + 512] @ vectors.T
        own = own_folds[start:start + 512, None]
        similarity[(own >= 0) & (fold[None, :] == own)] = -np.inf
        for c in result:
            block = similarity[:, columns[c]]
            nearest = np.partition(block, -SUPPORT_NEIGHBOURS, axis=1)[:, -SUPPORT_NEIGHBOURS:]
            result[c][start:start + 512] = nearest.mean(axis=1)
    return result


def out_of_fold_assignment(vectors, labels):  # type: ignore[no-untyped-def]
    """Each training row's fold in :func:`core.intents.domain.out_of_fold_proba`'s split."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from core.intents.domain import CV_FOLDS

    fold = np.zeros(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
    for number, (_, test) in enumerate(splitter.split(vectors, labels)):
        fold[test] = number
    return fold


if __name__ == "__main__":
    raise SystemExit(main())
