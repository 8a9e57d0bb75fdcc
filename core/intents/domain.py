"""The domain head: which installed pack, if any, a question belongs to.

A multinomial logistic regression over the query embedding the pipeline already computes for
every question (the unit-normalised MiniLM vector of ``SearchService.embed_queries``). Classes:
every installed pack id plus ``"none"``. Training rows:

- each pack's manifest intent examples (platform intents left out: the platform step answers
  them), labelled with the pack id; the generic pack (support-basics) is a class like the others;
- CLINC150 **train** (``core/intents/data``, CC BY 3.0): its 30 banking and credit-card
  intents as ``finance`` when a ``finance`` pack is installed (else ``none``), the other 120
  intents and ``oos_train`` as ``none``; and the platform module's out-of-scope sentences.

It is built by ``packdesk prepare`` (:func:`ensure_domain_model`, skipped when the data hash is
unchanged) into ``<models_dir>/domain/``: ``weights.npz`` (coefficients and intercepts, no
pickle) and ``domain.json`` (classes, data hash, hyper-parameters, cross-validated metrics).
Serving is a matrix product and a softmax: no scikit-learn at request time.

A linear head extrapolates: a question far from every training row ("are androids expensive")
can still get a confident finance probability. So the head also keeps each pack's training
vectors (its *exemplars*, float16 on disk) and reports a pack's **support** for a question: the
mean cosine of its ``SUPPORT_NEIGHBOURS`` nearest exemplars. It keeps ``none``'s rows too, those
near some pack's question (the others are never a claimed question's nearest): a question far
nearer to CLINC150's vacation requests than to any finance question is not finance, whatever
the linear head says. Routing uses all three (core/assistant/routing.py, docs/routing.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import IntentModelError
from core.packs.files import replace_directory
from core.packs.manifest import Manifest
from core.settings import Settings

log = logging.getLogger(__name__)

NONE = "none"
"""The class of questions no installed pack should take."""

FINANCE_PACK_ID = "finance"
DATA_DIR = Path(__file__).with_name("data")
CLINC_FILE = DATA_DIR / "clinc150_train_domains.jsonl.gz"
MODEL_FILE = "domain.json"
WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 3  # 2: exemplars for support; 3: exemplars of "none" near the packs'
DEFAULT_C = 4.0
CV_FOLDS = 5
SUPPORT_NEIGHBOURS = 3
NONE_EXEMPLAR_MIN_SIMILARITY = 0.5
"""A ``none`` row is kept as an exemplar when some pack's row is at least this close (cosine).
Routing compares ``none``'s support with a pack's only for questions near that pack; the rows
far from every pack's question (weather, music, trivia) never decide it. Measured on the
bundled embedder: 3,001 of CLINC150's 12,130 rows are kept (0.16 ms per question instead of
3.5), and they route the 8,264 rows of bench/routing_features.py (tuning and validation sets)
exactly as every row does; at 0.55 (1,838 rows) one of them changed."""

Embed = Callable[[list[str]], np.ndarray]
"""``texts -> float32 (n, dim)`` unit rows: the query embedder."""


class SentenceEmbedder(Protocol):
    """What the head needs of the query embedder (``core.retrieval``'s ``Embedder`` fits)."""

    model_id: str

    def embed(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray: ...


@dataclass(frozen=True)
class DomainRow:
    text: str
    label: str  # a pack id or NONE
    source: str  # "manifest", "clinc150" or "platform"


def domain_rows(manifests: Iterable[Manifest]) -> list[DomainRow]:
    """The training rows for the installed packs ``manifests`` (deterministic order)."""
    from core.intents.platform import OUT_OF_SCOPE_EXAMPLES

    manifests = sorted(manifests, key=lambda m: m.id)
    pack_ids = {m.id for m in manifests}
    rows: list[DomainRow] = []
    for manifest in manifests:
        for intent in manifest.intents:
            if intent.platform:
                continue
            rows += [DomainRow(e, manifest.id, "manifest") for e in intent.examples if e.strip()]
    for record in read_clinc_rows():
        label = record["domain"]
        if label != NONE and label not in pack_ids:
            label = NONE
        rows.append(DomainRow(record["text"], label, "clinc150"))
    rows += [DomainRow(text, NONE, "platform") for text in OUT_OF_SCOPE_EXAMPLES]
    return rows


def read_clinc_rows() -> list[dict[str, str]]:
    """The bundled CLINC150 train rows: ``{"text", "intent", "domain"}``."""
    with gzip.open(CLINC_FILE, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def rows_hash(rows: Sequence[DomainRow], *, embedder_id: str, c: float) -> str:
    """What the model depends on: rows, embedder and hyper-parameters."""
    digest = hashlib.sha256(
        f"v{FORMAT_VERSION}\0{embedder_id}\0C={c}\0none>={NONE_EXEMPLAR_MIN_SIMILARITY}\0".encode()
    )
    for row in rows:
        digest.update(f"{row.label}\0{row.text}\n".encode())
    return digest.hexdigest()


@dataclass
class DomainModel:
    """Domain probabilities from query vectors; ``predict`` is cheap and thread-safe."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, dim)
    intercept: np.ndarray  # (n_classes,)
    info: dict[str, Any] = field(default_factory=dict)
    # The packs' own training vectors (unit rows) and the index of each row's class.
    exemplar_vectors: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float32)
    )
    exemplar_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _exemplars: dict[str, np.ndarray] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        # One contiguous block per class, views into one array: support() reads a slice
        # instead of masking (and copying) every exemplar per question.
        order = np.argsort(self.exemplar_classes, kind="stable")
        self.exemplar_vectors = np.ascontiguousarray(self.exemplar_vectors[order])
        self.exemplar_classes = self.exemplar_classes[order]
        bounds = np.searchsorted(self.exemplar_classes, np.arange(len(self.classes) + 1))
        self._exemplars = {
            label: self.exemplar_vectors[bounds[i]:bounds[i + 1]]
            for i, label in enumerate(self.classes)
            if bounds[i + 1] > bounds[i]
        }

    def predict_proba(self, vectors: Any) -> np.ndarray:
        """``(n, n_classes)`` probabilities for ``(n, dim)`` (or one ``(dim,)``) vectors."""
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        logits = matrix @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probabilities(self, vector: Any) -> dict[str, float]:
        """``{class: probability}`` for one query vector."""
        row = self.predict_proba(vector)[0]
        return {label: float(p) for label, p in zip(self.classes, row, strict=True)}

    def support(self, vector: Any, pack_ids: Iterable[str]) -> dict[str, float]:
        """``{class: mean cosine of its nearest exemplars}`` for one unit query vector.

        Only for the classes of ``pack_ids`` (pack ids or ``"none"``) the head has exemplars of
        (routing asks only for the packs whose probability already passed, and ``none``, so
        this costs one small matrix product per class).
        """
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        result: dict[str, float] = {}
        for pack_id in pack_ids:
            rows = self._exemplars.get(pack_id)
            if rows is None or len(rows) == 0:
                continue
            scores = rows @ query
            k = min(SUPPORT_NEIGHBOURS, len(scores))
            result[pack_id] = float(np.partition(scores, len(scores) - k)[-k:].mean())
        return result

    def save(self, out_dir: Path) -> Path:
        """Write ``domain.json`` and ``weights.npz`` atomically (a sibling renamed into place)."""
        out_dir = Path(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            np.savez(
                staging / WEIGHTS_FILE,
                coef=self.coef,
                intercept=self.intercept,
                # float16 halves the file; cosines move by about 1e-3, far below any threshold.
                exemplar_vectors=self.exemplar_vectors.astype(np.float16),
                exemplar_classes=self.exemplar_classes.astype(np.int32),
            )
            record = {**self.info, "format": FORMAT_VERSION, "classes": list(self.classes)}
            (staging / MODEL_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            staging.chmod(0o755)
            replace_directory(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return out_dir

    @classmethod
    def load(cls, model_dir: Path) -> DomainModel:
        """Read a saved model.

        Raises:
            IntentModelError: the directory is missing, unreadable or inconsistent.
        """
        model_dir = Path(model_dir)
        try:
            info = json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))
            with np.load(model_dir / WEIGHTS_FILE, allow_pickle=False) as weights:
                coef = np.asarray(weights["coef"], dtype=np.float32)
                intercept = np.asarray(weights["intercept"], dtype=np.float32)
                exemplar_vectors = np.asarray(weights["exemplar_vectors"], dtype=np.float32)
                exemplar_classes = np.asarray(weights["exemplar_classes"], dtype=np.int32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise IntentModelError(f"no usable domain model in {model_dir}: {exc}") from exc
        classes = tuple(info.get("classes", ()))
        if (
            info.get("format") != FORMAT_VERSION
            or coef.shape[0] != len(classes)
            or intercept.shape != (len(classes),)
            or exemplar_vectors.shape != (len(exemplar_classes), coef.shape[1])
            or not all(0 <= i < len(classes) for i in np.unique(exemplar_classes))
        ):
            raise IntentModelError(
                f"domain model in {model_dir} is inconsistent: {len(classes)} classes, "
                f"weights {coef.shape}, format {info.get('format')!r} (expected "
                f"{FORMAT_VERSION}); run `packdesk prepare` to rebuild it"
            )
        return cls(classes, coef, intercept, info, exemplar_vectors, exemplar_classes)


def fit_domain_model(
    vectors: np.ndarray, labels: Sequence[str], *, c: float = DEFAULT_C, seed: int = 0
) -> DomainModel:
    """A multinomial logistic regression on unit query vectors (scikit-learn, lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    matrix = np.asarray(vectors, dtype=np.float32)
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(matrix, list(labels))
    classes = tuple(str(label) for label in model.classes_)
    keep = exemplar_mask(matrix, labels)
    return DomainModel(
        classes,
        np.asarray(model.coef_, dtype=np.float32),
        np.asarray(model.intercept_, dtype=np.float32),
        exemplar_vectors=matrix[keep],
        exemplar_classes=np.array(
            [classes.index(label) for label, kept in zip(labels, keep, strict=True) if kept],
            dtype=np.int32,
        ),
    )


def exemplar_mask(vectors: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Which training rows the head keeps as exemplars: every pack's, and the ``none`` rows
    within ``NONE_EXEMPLAR_MIN_SIMILARITY`` of some pack's row."""
    is_none = np.array([label == NONE for label in labels], dtype=bool)
    keep = ~is_none
    packs, candidates = vectors[keep], np.flatnonzero(is_none)
    if len(packs) == 0:
        return keep
    for start in range(0, len(candidates), 1024):  # blocks: (1024, rows) cosines at a time
        block = candidates[start:start + 1024]
        nearest = (vectors[block] @ packs.T).max(axis=1)
        keep[block[nearest >= NONE_EXEMPLAR_MIN_SIMILARITY]] = True
    return keep


def out_of_fold_proba(
    vectors: np.ndarray, labels: Sequence[str], *, c: float = DEFAULT_C, folds: int = CV_FOLDS,
    seed: int = 0,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Cross-validated probabilities: each row scored by a model that never saw it.

    Returns:
        the classes (sorted) and ``(n, n_classes)`` probabilities.
    """
    from sklearn.model_selection import StratifiedKFold

    labels = list(labels)
    classes = tuple(sorted(set(labels)))
    proba = np.zeros((len(labels), len(classes)), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(vectors, labels):
        model = fit_domain_model(vectors[train], [labels[i] for i in train], c=c, seed=seed)
        columns = [classes.index(label) for label in model.classes]
        proba[np.ix_(test, columns)] = model.predict_proba(vectors[test])
    return classes, proba


def cv_metrics(classes: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy and per-class recall of the argmax over out-of-fold probabilities."""
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    recall = {
        label: round(
            sum(p == t for p, t in zip(predicted, labels, strict=True) if t == label)
            / max(1, sum(t == label for t in labels)),
            4,
        )
        for label in classes
    }
    accuracy = sum(p == t for p, t in zip(predicted, labels, strict=True)) / max(1, len(labels))
    return {"accuracy": round(accuracy, 4), "recall": recall}


def train_domain_model(
    manifests: Iterable[Manifest],
    embed: Embed,
    *,
    embedder_id: str,
    c: float = DEFAULT_C,
    cross_validate: bool = True,
) -> DomainModel:
    """Build the rows, embed them, fit the head (and report its cross-validated metrics)."""
    started = time.monotonic()
    rows = domain_rows(manifests)
    labels = [row.label for row in rows]
    vectors = np.asarray(embed([row.text for row in rows]), dtype=np.float32)
    embedded = time.monotonic()
    model = fit_domain_model(vectors, labels, c=c)
    info: dict[str, Any] = {
        "data_sha256": rows_hash(rows, embedder_id=embedder_id, c=c),
        "embedder": embedder_id,
        "C": c,
        "rows": dict(sorted(_count(labels).items())),
        "exemplars": int(len(model.exemplar_classes)),
        "support_neighbours": SUPPORT_NEIGHBOURS,
        "embed_s": round(embedded - started, 1),
    }
    folds = min(CV_FOLDS, *_count(labels).values())
    if cross_validate and folds >= 2:
        classes, proba = out_of_fold_proba(vectors, labels, c=c, folds=folds)
        info["cv"] = {"folds": folds, **cv_metrics(classes, proba, labels)}
    info["train_s"] = round(time.monotonic() - started, 1)
    model.info = info
    return model


def default_domain_dir(settings: Settings) -> Path:
    """``<models_dir>/domain``, next to the intent model."""
    return settings.models_dir / "domain"


def ensure_domain_model(
    settings: Settings, manifests: Iterable[Manifest], embed: Embed, *, embedder_id: str
) -> tuple[Path, bool]:
    """Train and save the domain head unless the saved one was built from the same data.

    Returns:
        the model directory and whether it was (re)built.
    """
    manifests = list(manifests)
    model_dir = default_domain_dir(settings)
    wanted = rows_hash(domain_rows(manifests), embedder_id=embedder_id, c=DEFAULT_C)
    try:
        if DomainModel.load(model_dir).info.get("data_sha256") == wanted:
            return model_dir, False
    except IntentModelError as exc:
        log.info("building the domain model: %s", exc.message)
    train_domain_model(manifests, embed, embedder_id=embedder_id).save(model_dir)
    return model_dir, True


def load_domain_model(model_dir: Path, pack_ids: Iterable[str]) -> DomainModel | None:
    """The saved head, or None (logged) when there is none: routing then uses its intent and
    retrieval rules for every pack.

    A head built for other packs is still used (logged): packs it does not know (installed
    after it was built) are routed by the rules, packs no longer served are ignored.
    """
    try:
        model = DomainModel.load(model_dir)
    except IntentModelError as exc:
        log.warning("no domain model (%s): routing by intent and retrieval rules", exc.message)
        return None
    known, served = set(model.classes) - {NONE}, set(pack_ids)
    if known != served:
        log.warning(
            "domain model in %s was built for packs %s, served are %s: packs it does not know "
            "are routed by intent and retrieval rules; `packdesk prepare` rebuilds it",
            model_dir, sorted(known), sorted(served),
        )
    return model


def _count(labels: Iterable[str]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts
