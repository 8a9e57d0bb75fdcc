"""Training writes a complete, calibrated model that learns its labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from core.errors import ValidationError
from core.intents import OUT_OF_SCOPE, IntentClassifier, ensure_default_model, intent_labels
from core.intents.dataset import Example
from core.intents.inference import base_model_path
from core.intents.training import freeze_lower_layers, train_intent_model
from core.settings import Settings
from tests.core.intents.conftest import HELD_OUT


def test_model_dir_is_complete(tiny_model: Path) -> None:
    names = {p.name for p in tiny_model.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "label_map.json",
            "training_config.json", "calibration.json", "metrics.json"} <= names
    config = json.loads((tiny_model / "training_config.json").read_text())
    assert len(config["data_sha256"]) == 64
    assert config["version"].endswith(config["data_sha256"][:8])
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert {"accuracy", "macro_f1", "per_label", "at_threshold"} <= set(metrics[split])
        assert metrics[split]["at_threshold"]["out_of_scope_recall"] is not None
    assert metrics["calibration"]["method"] == "out_of_scope_examples"
    assert metrics["training_seconds"] > 0
    # Written atomically: no staging or old directories remain next to the model.
    assert [p.name for p in tiny_model.parent.iterdir()] == [tiny_model.name]


def test_learns_held_out_paraphrases(tiny_classifier: IntentClassifier) -> None:
    predictions = tiny_classifier.predict([text for text, _ in HELD_OUT], top_k=5)
    # Judge the top trained label (not the thresholded one): that is what training learned.
    hits = sum(p.top_k[0][0] == gold for p, (_, gold) in zip(predictions, HELD_OUT, strict=True))
    assert hits / len(HELD_OUT) >= 0.7  # chance is 0.2


def test_unrelated_text_is_out_of_scope(tiny_classifier: IntentClassifier) -> None:
    texts = ["zxqv plonk grbl wuz", "what is the boiling point of mercury in kelvin",
             "recipe for lasagna with spinach", "hello"]
    predictions = tiny_classifier.predict(texts)
    for prediction in predictions:
        # The stored threshold decides, every time.
        rejected = prediction.confidence < tiny_classifier.threshold
        assert (prediction.label == OUT_OF_SCOPE) == rejected
    assert sum(p.label == OUT_OF_SCOPE for p in predictions[:3]) >= 2
    assert predictions[3].label == "platform:greeting"
    assert predictions[0].pack_id is None


def test_default_model_is_a_head_trained_once_and_reused(
    tmp_path: Path, shared_embedder: Any, tiny_model: Path
) -> None:
    settings = Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data")
    model_dir = ensure_default_model(settings, [], embedder=shared_embedder)
    config = json.loads((model_dir / "training_config.json").read_text())
    assert config["kind"] == "embedding-head" and config["embedder"] == shared_embedder.model_id
    assert ensure_default_model(settings, [], embedder=shared_embedder) == model_dir
    assert json.loads((model_dir / "training_config.json").read_text()) == config  # not retrained
    assert set(IntentClassifier(model_dir).labels) == intent_labels([])
    # A fitting model of another kind (an operator's fine-tune) is kept, not replaced.
    shutil.rmtree(model_dir)
    shutil.copytree(tiny_model, model_dir)
    assert ensure_default_model(settings, [], embedder=shared_embedder) == model_dir
    assert IntentClassifier(model_dir).kind == "fine-tuned"


def test_freeze_layers_freezes_lower_layers() -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(base_model_path(), num_labels=3)
    freeze_lower_layers(model, 4)
    bert = model.base_model
    assert not any(p.requires_grad for p in bert.embeddings.parameters())
    for index, layer in enumerate(bert.encoder.layer):
        assert all(p.requires_grad == (index >= 4) for p in layer.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    with pytest.raises(ValidationError, match="only 6 layers"):
        freeze_lower_layers(model, 7)


def _two_labels() -> list[Example]:
    return [Example(f"open account number {i}", "bank:open_account") for i in range(6)] + [
        Example(f"close card number {i}", "bank:close_card") for i in range(6)
    ]


def test_lora_training_saves_a_plain_model(tmp_path: Path) -> None:
    result = train_intent_model(_two_labels(), out_dir=tmp_path / "lora", epochs=1, lora=True,
                                show_progress=False)
    config = json.loads((result.model_dir / "training_config.json").read_text())
    assert config["lora"] is True
    assert not (result.model_dir / "adapter_config.json").exists()  # adapters were merged
    prediction = IntentClassifier(result.model_dir).predict(["open account number 9"])[0]
    assert prediction.top_k[0][0] in {"bank:open_account", "bank:close_card"}


@pytest.mark.parametrize(
    ("options", "message"),
    [({"epochs": 0}, "epochs"), ({"max_per_label": 1}, "max_per_label"),
     ({"freeze_layers": -1}, "freeze_layers"), ({"freeze_layers": 2, "lora": True}, "either"),
     ({"pooling": "max"}, "pooling"), ({"label_smoothing": 1.0}, "label_smoothing")],
)
def test_bad_options_leave_nothing(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        train_intent_model(_two_labels(), out_dir=tmp_path / "model", **options)
    assert list(tmp_path.iterdir()) == []


def test_probe_init_starts_the_head_from_a_linear_probe(tmp_path: Path) -> None:
    """LP-FT: after one short epoch the probed head already separates what it was fitted on."""
    examples = _two_labels() + [
        Example(f"where is my parcel {i}", "bank:track_parcel") for i in range(6)
    ]
    result = train_intent_model(examples, out_dir=tmp_path / "probe", epochs=1, probe_init=True,
                                learning_rate=1e-5, show_progress=False)
    config = json.loads((result.model_dir / "training_config.json").read_text())
    assert config["probe_init"] is True
    classifier = IntentClassifier(result.model_dir)
    texts = ["open account number 3", "close card number 3", "where is my parcel 3"]
    predicted = [p.top_k[0][0] for p in classifier.predict(texts)]
    assert predicted == ["bank:open_account", "bank:close_card", "bank:track_parcel"]


def test_mean_pooling_head_sees_the_sentence_embedding() -> None:
    """Before fine-tuning, the mean-pooling classifier's features are exactly the bundled
    sentence model's (unnormalised) embeddings, which is why it starts from good features."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from core.intents.modeling import load_for_training, pooled_features

    texts = ["I lost my card yesterday", "how do I top up by bank transfer?", "hi"]
    model = load_for_training(str(base_model_path()), "mean", num_labels=3).eval()
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    with torch.no_grad():
        features = pooled_features(model, dict(tokenizer(texts, padding=True,
                                                         return_tensors="pt")))
    encoder = SentenceTransformer(str(base_model_path()), device="cpu")
    expected = encoder.encode(texts, convert_to_tensor=True, normalize_embeddings=False)
    # The bundled pipeline L2-normalises after pooling; compare directions.
    cosine = torch.nn.functional.cosine_similarity(features, expected)
    assert torch.all(cosine > 0.9999)


def test_saved_models_load_through_the_auto_class(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

    from core.intents.modeling import BertMeanPoolingForSequenceClassification

    for pooling, expected in (("mean", BertMeanPoolingForSequenceClassification),
                              ("cls", BertForSequenceClassification)):
        result = train_intent_model(_two_labels(), out_dir=tmp_path / pooling, epochs=1,
                                    pooling=pooling, show_progress=False)
        assert json.loads((result.model_dir / "training_config.json").read_text())[
            "pooling"] == pooling
        model = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
        assert type(model) is expected
        assert IntentClassifier(result.model_dir).predict(["open account number 1"])[0].top_k
