"""The retrain gate: a candidate is promoted only if it is better on the held-out feedback and
not worse than the tolerance on the base split; a refused candidate is kept as a rejected
version and the current model stays current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.conversations.service import ConversationService
from core.intents.dataset import examples_from_manifests
from core.learning.dataset import DatasetPolicy
from core.learning.feedback import FeedbackService
from core.learning.gate import Scores, decide
from core.learning.registry import ModelRegistry
from core.learning.retrain import Retrainer, RetrainOptions
from core.privacy import Redactor
from tests.core.learning.conftest import LABELS, store_turn


def scores(base: float | None, feedback: float | None) -> Scores:
    return Scores(base_accuracy=base, feedback_accuracy=feedback, base_rows=100,
                  feedback_rows=10)


def test_better_on_feedback_and_within_tolerance_on_base_is_promoted() -> None:
    decision = decide(scores(0.90, 0.10), scores(0.896, 0.80), tolerance=0.005)
    assert decision.promote and decision.reasons == []


def test_a_candidate_worse_on_the_base_split_is_refused() -> None:
    decision = decide(scores(0.90, 0.10), scores(0.89, 0.95), tolerance=0.005)
    assert not decision.promote
    assert decision.reasons == ["worse on the base split (89.00% against 90.00%, "
                                "tolerance 0.50%)"]


def test_a_candidate_not_better_on_feedback_is_refused() -> None:
    assert not decide(scores(0.90, 0.80), scores(0.95, 0.80)).promote
    assert not decide(scores(0.90, 0.80), scores(0.95, 0.70)).promote
    assert "no held-out feedback" in decide(scores(0.9, None), scores(0.9, None)).reasons[0]


@pytest.mark.parametrize("kind", ["head", "fine-tuned"])
async def test_retrain_refuses_a_candidate_that_learned_nothing_new(
    feedback: FeedbackService, conversations: ConversationService, redactor: Redactor,
    new_account, request: pytest.FixtureRequest, shared_embedder: Any,  # type: ignore[no-untyped-def]
    tmp_path: Path, kind: str,
) -> None:
    """The customers only confirm greetings the current model already gets right: a real
    candidate (of the current model's kind) is trained, cannot be better on the feedback
    split, and is refused."""
    model_dir = request.getfixturevalue("platform_head" if kind == "head" else "platform_model")
    registry = ModelRegistry(feedback.db)
    current = await registry.register(model_dir)
    await registry.promote(current.version_id, actor="test")
    greetings = ["hello friends", "hi there, anyone?", "good morning team", "hey hello",
                 "hello hello", "hi, good evening"]
    for index, text in enumerate(greetings):
        account = await new_account(f"shop {index}")
        turn = await store_turn(conversations, redactor, account, text,
                                intent="platform:greeting")
        await feedback.give_feedback(account, turn.conversation_id, turn.turn_id, helpful=True)

    retrainer = Retrainer(registry, feedback, models_dir=tmp_path / "models",
                          policy=DatasetPolicy(min_per_label=3, holdout_fraction=0.5),
                          embed=shared_embedder.embed, embedder_id=shared_embedder.model_id)
    report = await retrainer.retrain(
        base=examples_from_manifests([]), labels=LABELS,
        options=RetrainOptions(epochs=1, max_per_label=None),
    )
    assert report.decision is not None and report.decision.current.feedback_accuracy == 1.0
    assert report.status == "rejected", report.lines()
    assert "not better on the feedback split" in report.decision.reasons[0]
    assert report.version is not None and report.version.status == "rejected"
    assert report.version.gate is not None and report.version.gate["promote"] is False
    assert report.version.training_config["retrain"]["learned_train"] >= 1
    assert report.version.training_config.get("kind", "fine-tuned") == (
        "embedding-head" if kind == "head" else "fine-tuned"
    )
    assert await registry.current_version_id() == current.version_id
    assert not list((tmp_path / "models" / "intents" / "work").iterdir())  # no leftovers
