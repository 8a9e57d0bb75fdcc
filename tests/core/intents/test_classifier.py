"""Serving: predictions, bad input, label-map checks, thread safety."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import IntentModelError, ValidationError
from core.intents import IntentClassifier, Prediction, intent_labels


def test_prediction_shape(tiny_classifier: IntentClassifier) -> None:
    [prediction] = tiny_classifier.predict(["thank you so much for the help"], top_k=2)
    assert isinstance(prediction, Prediction)
    assert prediction.label == "platform:thanks" and prediction.pack_id is None
    assert len(prediction.top_k) == 2 and prediction.top_k[0] == ("platform:thanks",
                                                                 prediction.confidence)
    assert prediction.top_k[0][1] >= prediction.top_k[1][1]


def test_empty_text_is_rejected(tiny_classifier: IntentClassifier) -> None:
    with pytest.raises(ValidationError, match="text 1 is empty"):
        tiny_classifier.predict(["hello", "   "])
    with pytest.raises(ValidationError, match="single string"):
        tiny_classifier.predict("hello")  # type: ignore[arg-type]


def test_over_long_input_is_truncated(tiny_classifier: IntentClassifier) -> None:
    long_text = "I want to speak to a human agent right now. " + "blah " * 5000
    [prediction] = tiny_classifier.predict([long_text])
    assert prediction.top_k[0][0] == "platform:human_agent"


def test_label_map_mismatch_tells_operator_to_retrain(tiny_model: Path) -> None:
    expected = intent_labels([]) | {"finance:card_lost"}
    classifier = IntentClassifier(tiny_model, expected_labels=expected)
    with pytest.raises(IntentModelError, match=r"finance:card_lost.*packdesk intents train"):
        classifier.warm_up()
    with pytest.raises(IntentModelError, match="packdesk intents train"):
        classifier.predict(["hello"])


def test_matching_label_map_is_accepted(tiny_model: Path) -> None:
    classifier = IntentClassifier(tiny_model, expected_labels=intent_labels([]))
    classifier.warm_up()
    classifier.warm_up()  # idempotent
    assert classifier.predict(["hi"])[0].label == "platform:greeting"


def test_builtin_platform_labels_never_make_a_model_stale(tiny_model: Path) -> None:
    # Expected labels from manifests alone (no pack declares the built-in platform intents).
    IntentClassifier(tiny_model, expected_labels=set()).warm_up()
    IntentClassifier(tiny_model, expected_labels={"platform:greeting"}).warm_up()


def test_missing_or_broken_model_dir(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(IntentModelError, match="no intent model"):
        IntentClassifier(tmp_path / "nothing").warm_up()
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "label_map.json").write_text(json.dumps({"labels": ["only:one"]}))
    with pytest.raises(IntentModelError, match="1"):
        IntentClassifier(broken).warm_up()


def test_thread_safe(tiny_classifier: IntentClassifier) -> None:
    texts = ["hello", "thanks a lot", "bye now", "get me a human", "this is terrible service",
             "what is the weather"]
    expected = [p.top_k for p in tiny_classifier.predict(texts)]
    fresh = IntentClassifier(tiny_classifier.model_dir)  # warm_up races too

    def classify(index: int) -> list:
        return [p.top_k for p in fresh.predict(texts[index % 6:] + texts[:index % 6])]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(classify, range(24)))
    for index, result in enumerate(results):
        rotated = expected[index % 6:] + expected[:index % 6]
        for got, want in zip(result, rotated, strict=True):
            assert [label for label, _ in got] == [label for label, _ in want]
            assert got[0][1] == pytest.approx(want[0][1], abs=1e-4)
