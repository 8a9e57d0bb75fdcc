"""The intent head: a calibrated classifier of the query embedder's vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import IntentModelError, ValidationError
from core.intents import OUT_OF_SCOPE, IntentClassifier, intent_labels
from core.intents.hot_swap import SwappableClassifier
from tests.core.intents.conftest import HELD_OUT


def head_classifier(model_dir: Path, embedder: Any) -> IntentClassifier:
    return IntentClassifier(model_dir, embed=embedder.embed, embedder_id=embedder.model_id)


def test_head_directory_is_complete_and_small(tiny_head: Path) -> None:
    names = {p.name for p in tiny_head.iterdir()}
    assert names == {"head.npz", "label_map.json", "training_config.json", "calibration.json",
                     "metrics.json"}
    config = json.loads((tiny_head / "training_config.json").read_text())
    assert config["kind"] == "embedding-head" and len(config["data_sha256"]) == 64
    assert sum(p.stat().st_size for p in tiny_head.iterdir()) < 200_000  # no transformer weights
    metrics = json.loads((tiny_head / "metrics.json").read_text())
    assert metrics["calibration"]["method"] == "out_of_scope_examples"


def test_head_classifies_unseen_paraphrases(tiny_head: Path, shared_embedder: Any) -> None:
    classifier = head_classifier(tiny_head, shared_embedder)
    predictions = classifier.predict([text for text, _ in HELD_OUT], top_k=2)
    right = sum(p.label == gold for p, (_, gold) in zip(predictions, HELD_OUT, strict=True))
    assert right >= 8, [(p.label, round(p.confidence, 2)) for p in predictions]
    assert set(classifier.labels) == intent_labels([])
    assert all(len(p.top_k) == 2 for p in predictions)
    nonsense = classifier.predict(["zxqv plonk grbl wuz", "recipe for lasagna with spinach"])
    assert all(p.label == OUT_OF_SCOPE and p.pack_id is None for p in nonsense)


def test_vectors_and_text_give_the_same_prediction(tiny_head: Path, shared_embedder: Any) -> None:
    classifier = head_classifier(tiny_head, shared_embedder)
    texts = ["hello there", "I want to talk to a person", "what is a mortgage"]
    vectors = shared_embedder.embed(texts)
    from_text = classifier.predict(texts)
    from_vectors = classifier.predict_vectors(vectors)
    assert [p.label for p in from_text] == [p.label for p in from_vectors]
    assert np.allclose([p.confidence for p in from_text], [p.confidence for p in from_vectors])
    one = classifier.predict_vector(vectors[0])
    assert one is not None and one.label == from_text[0].label
    # The hot-swap holder passes the one vector to whatever model serves now.
    holder = SwappableClassifier(classifier)
    assert holder.reads_query_vector
    held = holder.predict_vector(vectors[1])
    assert held is not None and held.label == from_text[1].label
    with pytest.raises(ValidationError, match="384-dimensional"):
        classifier.predict_vectors(np.zeros((1, 12), dtype=np.float32))


def test_a_fine_tuned_model_classifies_text_not_vectors(tiny_model: Path) -> None:
    classifier = IntentClassifier(tiny_model)
    assert not classifier.reads_query_vector
    assert classifier.predict_vector(np.zeros(384, dtype=np.float32)) is None
    assert SwappableClassifier(classifier).predict_vector(np.zeros(384)) is None
    with pytest.raises(IntentModelError, match="classifies text"):
        classifier.predict_vectors(np.zeros((1, 384), dtype=np.float32))


def test_a_head_needs_its_own_embedder(tiny_head: Path, shared_embedder: Any) -> None:
    with pytest.raises(IntentModelError, match="needs the query embedder"):
        IntentClassifier(tiny_head).predict(["hello"])
    other = IntentClassifier(tiny_head, embed=shared_embedder.embed, embedder_id="other-model")
    with pytest.raises(IntentModelError, match="classifies vectors of embedder"):
        other.warm_up()


def test_a_damaged_head_is_refused(tiny_head: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_head, broken)
    np.savez(broken / "head.npz", weight=np.zeros((3, 384), np.float32),
             bias=np.zeros(3, np.float32))
    with pytest.raises(IntentModelError, match="do not fit the"):
        IntentClassifier(broken).warm_up()
    (broken / "head.npz").write_bytes(b"not a zip")
    with pytest.raises(IntentModelError, match="unreadable intent head"):
        IntentClassifier(broken).warm_up()
    shutil.copy(tiny_head / "head.npz", broken / "head.npz")
    (broken / "head.npz").write_bytes((tiny_head / "head.npz").read_bytes()[:100])  # truncated
    with pytest.raises(IntentModelError, match="unreadable intent head"):
        IntentClassifier(broken).warm_up()
