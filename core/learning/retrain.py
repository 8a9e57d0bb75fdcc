"""Re-train through the gate: base data plus learned examples -> candidate -> compare -> promote.

The base split is the one the current model was trained with (the packs' examples, capped at
the ``max_per_label`` its training config records, the same seed and fractions), so its test
part is unseen by both the current model and the candidate.

The candidate is of the current model's kind. An intent head (the default, core.intents.head)
is refitted on the query embedder's vectors of base + learned examples: seconds, and the known
intents' weights are fitted on the same data as before. A fine-tuned model is fine-tuned again;
by default it starts from the current model's encoder (warm start), so a retrain needs few
epochs and the intents it already knew stay where they were; ``warm_start=False`` trains from
the bundled base model instead.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.errors import ConfigError, ValidationError
from core.intents.dataset import Example, cap_per_label, stratified_split
from core.intents.head import HEAD_KIND, Embed
from core.intents.versions import ModelVersion
from core.learning.dataset import DatasetPolicy, DatasetReport, build_dataset, normalise
from core.learning.feedback import FeedbackService, UnlabelledTurn
from core.learning.gate import DEFAULT_TOLERANCE, GateDecision, decide, score
from core.learning.labels import LabelSpace
from core.learning.registry import ModelRegistry, version_dir
from core.learning.self_training import (
    DEFAULT_MAX_PER_ACCOUNT,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_TURN_LIMIT,
    PseudoLabelled,
    pseudo_label,
)

Status = Literal["nothing-to-learn", "promoted", "rejected", "candidate"]


@dataclass(frozen=True)
class RetrainOptions:
    """The candidate's training run and the gate's tolerance. ``epochs``, ``learning_rate``,
    ``freeze_layers`` and ``warm_start`` apply to a fine-tuned model only."""

    epochs: int = 3
    learning_rate: float = 5e-5
    # Of the base data; None: the cap the current model was trained with (its config).
    max_per_label: int | None = None
    freeze_layers: int = 0
    seed: int = 42
    warm_start: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    promote: bool = True  # False: register the candidate and report, promote nothing
    # An intent head only: pseudo-label unlabelled turns of new intents (core.learning.
    # self_training) and fit again with them; the gate still judges on human labels only.
    self_training: bool = True
    self_training_min_confidence: float = DEFAULT_MIN_CONFIDENCE
    self_training_turns: int = DEFAULT_TURN_LIMIT
    self_training_max_per_account: int = DEFAULT_MAX_PER_ACCOUNT  # per label
    show_progress: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValidationError(f"epochs must be >= 1, got {self.epochs}")
        if not 0.0 <= self.tolerance < 1.0:
            raise ValidationError(f"tolerance must be in [0, 1), got {self.tolerance}")


@dataclass
class RetrainReport:
    status: Status
    dataset: DatasetReport
    decision: GateDecision | None = None
    version: ModelVersion | None = None
    previous_version_id: str | None = None
    training_seconds: float = 0.0
    seconds: float = 0.0
    new_labels: list[str] = field(default_factory=list)
    pseudo_labelled: list[PseudoLabelled] = field(default_factory=list)

    def pseudo_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.pseudo_labelled:
            counts[item.label] = counts.get(item.label, 0) + 1
        return dict(sorted(counts.items()))

    def lines(self) -> list[str]:
        """A short human report of what changed (the CLI prints it)."""
        train = len(self.dataset.examples("train"))
        held = len(self.dataset.examples("heldout"))
        out = [f"learned examples: {train} for training, {held} held out; "
               f"{len(self.dataset.rejected)} rows not used"]
        if self.new_labels:
            out.append(f"new labels: {', '.join(self.new_labels)}")
        if self.pseudo_labelled:
            counts = ", ".join(f"{k} {v}" for k, v in self.pseudo_counts().items())
            out.append(f"self-training: {len(self.pseudo_labelled)} unlabelled turns given a "
                       f"new label ({counts})")
        if self.decision is not None:
            c, k = self.decision.current, self.decision.candidate
            out.append(f"base split ({c.base_rows} rows): current {_pct(c.base_accuracy)} -> "
                       f"candidate {_pct(k.base_accuracy)}")
            out.append(f"feedback split ({c.feedback_rows} rows): current "
                       f"{_pct(c.feedback_accuracy)} -> candidate {_pct(k.feedback_accuracy)}")
            if self.decision.reasons:
                out.append("gate: refused: " + "; ".join(self.decision.reasons))
        if self.version is not None:
            out.append(f"candidate version {self.version.version_id}: {self.status} "
                       f"(previous {self.previous_version_id}); training "
                       f"{self.training_seconds:.0f} s, total {self.seconds:.0f} s")
        elif self.status == "nothing-to-learn":
            out.append("nothing to learn: no accepted example for training; no model trained")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "version_id": self.version.version_id if self.version else None,
            "previous_version_id": self.previous_version_id,
            "new_labels": self.new_labels,
            "pseudo_labelled": self.pseudo_counts(),
            "train_examples": len(self.dataset.examples("train")),
            "heldout_examples": len(self.dataset.examples("heldout")),
            "rejected": len(self.dataset.rejected),
            "gate": self.decision.to_dict() if self.decision else None,
            "training_seconds": round(self.training_seconds, 1),
            "seconds": round(self.seconds, 1),
        }


def base_split(
    base: Sequence[Example], *, max_per_label: int | None, seed: int
) -> tuple[list[Example], list[Example]]:
    """(training pool, test split) of the base data, exactly as ``train_intent_model`` splits
    it with the same cap and seed (its validation part stays in the pool)."""
    data = cap_per_label(base, max_per_label, seed)
    train, val, test = stratified_split(data, fractions=(0.1, 0.1), seed=seed)
    return train + val, test


class Retrainer:
    """Builds the learned dataset and runs a gated retrain."""

    def __init__(
        self,
        registry: ModelRegistry,
        feedback: FeedbackService,
        *,
        models_dir: Path,
        policy: DatasetPolicy | None = None,
        embed: Embed | None = None,
        embedder_id: str | None = None,
    ) -> None:
        """``embed`` / ``embedder_id``: the query embedder, which an intent head classifies
        (needed when the current model is a head)."""
        self.embed = embed
        self.embedder_id = embedder_id
        self.registry = registry
        self.feedback = feedback
        self.models_dir = Path(models_dir)
        self.policy = policy or DatasetPolicy()

    async def dataset(self, *, base: Sequence[Example], labels: LabelSpace) -> DatasetReport:
        """What a retrain would add now (``packdesk intents dataset``)."""
        labelled = await self.feedback.labelled_turns()
        return build_dataset(labelled, base=base, labels=labels, policy=self.policy)

    async def retrain(
        self,
        *,
        base: Sequence[Example],
        labels: LabelSpace,
        options: RetrainOptions = RetrainOptions(),
        base_test: Sequence[Example] | None = None,
        fallback_model_dir: Path | None = None,
        actor: str = "retrain",
    ) -> RetrainReport:
        """Train a candidate on base + learned examples, gate it, register it, maybe promote.

        Args:
            base: the base training data (the installed packs' examples).
            base_test: an official test split of ``base``; default the base split's test part.
            fallback_model_dir: the model to compare against when no version is registered.
        Raises:
            ConfigError: there is no current model to compare with.
        """
        started = time.perf_counter()
        report = RetrainReport(status="nothing-to-learn",
                               dataset=await self.dataset(base=base, labels=labels))
        learned_train = report.dataset.examples("train")
        learned_test = report.dataset.examples("heldout")
        if not learned_train:
            report.seconds = time.perf_counter() - started
            return report
        report.new_labels = sorted({i.label for i in report.dataset.accepted if i.new_label})
        current = await self.registry.current()
        if current is not None:
            current_dir = await self.registry.materialise(
                current.version_id, version_dir(self.models_dir, current.version_id)
            )
        elif fallback_model_dir is not None and Path(fallback_model_dir).is_dir():
            current_dir = Path(fallback_model_dir)
        else:
            raise ConfigError("no current intent model to compare a candidate with: run "
                              "`packdesk prepare` (it registers the default model) first")
        report.previous_version_id = current.version_id if current else None
        config = _training_config(current_dir)
        head = config.get("kind") == HEAD_KIND
        if head and (self.embed is None or self.embedder_id is None):
            raise ConfigError("the current intent model is a head over query vectors: the "
                              "retrain needs the query embedder")
        cap = options.max_per_label if options.max_per_label is not None \
            else config.get("max_per_label")
        if base_test is None:
            pool, test = base_split(base, max_per_label=cap, seed=options.seed)
        else:
            pool, test = cap_per_label(base, cap, options.seed), list(base_test)

        unlabelled: list[UnlabelledTurn] = []
        if head and options.self_training and report.new_labels:
            unlabelled = await self.feedback.unlabelled_turns(limit=options.self_training_turns)
        work = Path(tempfile.mkdtemp(prefix="packdesk-retrain-", dir=self._work_root()))
        try:
            if head:
                known = {normalise(e.text) for e in [*base, *learned_train, *learned_test]}
                result, training_seconds, report.pseudo_labelled = await asyncio.to_thread(
                    self._train_head, pool + learned_train, test + learned_test, current_dir,
                    work, options, _SelfTraining(unlabelled, set(report.new_labels), known,
                                                 options.self_training_max_per_account),
                )
            else:
                result, training_seconds = await asyncio.to_thread(
                    _train_candidate, pool + learned_train, test + learned_test, current_dir,
                    work, options,
                )
            report.training_seconds = training_seconds
            current_scores, candidate_scores = await asyncio.to_thread(
                self._score_both, current_dir, result, test, learned_test
            )
            report.decision = decide(current_scores, candidate_scores,
                                     tolerance=options.tolerance)
            passed = report.decision.promote
            report.version = await self.registry.register(
                result,
                status="candidate" if passed else "rejected",
                parent_version_id=report.previous_version_id,
                gate=report.decision.to_dict(),
                extra_config={
                    "retrain": {**asdict(options), "policy": asdict(self.policy),
                                "learned_train": len(learned_train),
                                "learned_heldout": len(learned_test),
                                "learned_sha256": report.dataset.data_sha256,
                                "pseudo_labelled": report.pseudo_counts(),
                                "warm_start_from": report.previous_version_id
                                if options.warm_start else None},
                },
            )
            if passed and options.promote:
                report.version = await self.registry.promote(report.version.version_id,
                                                             actor=actor)
                report.status = "promoted"
            else:
                report.status = "candidate" if passed else "rejected"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report.seconds = time.perf_counter() - started
        return report

    def _train_head(
        self, train: list[Example], test: list[Example], current_dir: Path, work: Path,
        options: RetrainOptions, self_training: _SelfTraining,
    ) -> tuple[Path, float, list[PseudoLabelled]]:
        """Fit a head; with unlabelled turns, pseudo-label them with it and fit once more."""
        from core.intents.classifier import IntentClassifier
        from core.intents.head import train_intent_head

        assert self.embed is not None and self.embedder_id is not None  # checked by retrain
        embed, embedder_id = self.embed, self.embedder_id
        c = float(_training_config(current_dir).get("c", 10.0))
        started = time.perf_counter()

        def fit(examples: list[Example], out: str) -> Path:
            return train_intent_head(examples, out_dir=work / out, embed=embed,
                                     embedder_id=embedder_id, c=c, seed=options.seed,
                                     test_examples=test).model_dir

        first = fit(train, "candidate")
        if not self_training.turns:
            return first, time.perf_counter() - started, []
        classifier = IntentClassifier(first, embed=embed)
        pseudo = pseudo_label(
            self_training.turns,
            lambda texts: [p.top_k[0] for p in classifier.predict(texts, top_k=1)],
            labels=self_training.labels, known_texts=self_training.known_texts,
            min_confidence=options.self_training_min_confidence,
            max_per_account=self_training.max_per_account,
        )
        if not pseudo:
            return first, time.perf_counter() - started, []
        second = fit(train + [item.example() for item in pseudo], "candidate-self-trained")
        return second, time.perf_counter() - started, pseudo

    def _score_both(self, current_dir: Path, candidate_dir: Path, base_test: list[Example],
                    feedback_test: list[Example]) -> tuple[Any, Any]:
        from core.intents.classifier import IntentClassifier

        scores = []
        for model_dir in (current_dir, candidate_dir):
            classifier = IntentClassifier(model_dir, embed=self.embed)
            classifier.warm_up()
            scores.append(score(classifier, base_test, feedback_test))
        return scores[0], scores[1]

    def _work_root(self) -> Path:
        root = self.models_dir / "intents" / "work"
        root.mkdir(parents=True, exist_ok=True)
        return root


@dataclass(frozen=True)
class _SelfTraining:
    """What self-training may use: the unlabelled turns, the new labels, the known texts."""

    turns: list[UnlabelledTurn]
    labels: set[str]
    known_texts: set[str]
    max_per_account: int


def _train_candidate(
    train: list[Example], test: list[Example], current_dir: Path, work: Path,
    options: RetrainOptions,
) -> tuple[Path, float]:
    from core.intents.training import train_intent_model

    base_model = None
    if options.warm_start and _mean_pooled(current_dir):
        base_model = export_encoder(current_dir, work / "warm-start")
    started = time.perf_counter()
    result = train_intent_model(
        train,
        out_dir=work / "candidate",
        epochs=options.epochs,
        learning_rate=options.learning_rate,
        max_per_label=None,  # the base part is capped already; learned examples are few
        freeze_layers=options.freeze_layers,
        seed=options.seed,
        test_examples=test,
        base_model=base_model,
        show_progress=options.show_progress,
    )
    return result.model_dir, time.perf_counter() - started


def export_encoder(model_dir: Path, out: Path) -> Path:
    """Save a trained intent model's encoder (without its head) as a base model directory."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import core.intents.modeling  # noqa: F401  registers the mean-pooling model type

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model.base_model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out


def _mean_pooled(model_dir: Path) -> bool:
    return _read_json(model_dir / "config.json").get("model_type") == "packdesk-bert-mean"


def _training_config(model_dir: Path) -> dict[str, Any]:
    from core.intents.training import TRAINING_CONFIG_FILE

    return _read_json(model_dir / TRAINING_CONFIG_FILE)


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
