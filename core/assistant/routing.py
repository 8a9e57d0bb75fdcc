"""Which pack a question belongs to: from the intent, failing that from retrieval scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.intents.labels import OUT_OF_SCOPE


class PredictionLike(Protocol):
    label: str
    pack_id: str | None
    confidence: float


@dataclass(frozen=True)
class Route:
    """Where a question goes. ``pack_id`` is None for platform intents and unrouted questions."""

    pack_id: str | None
    by: str  # "intent" | "platform" | "retrieval" | "generic" | "none"
    score: float


def route_question(
    prediction: PredictionLike | None,
    pack_scores: dict[str, float],
    *,
    generic_pack_ids: frozenset[str],
    min_retrieval_score: float,
    min_platform_confidence: float = 0.5,
) -> Route:
    """Pick the pack a question belongs to.

    A confident pack intent decides by itself. Platform intents, intents of generic packs
    (manifests with ``serves_generic_intents``, as support-basics) and out-of-scope
    predictions fall back to the best per-pack retrieval score, which must reach
    ``min_retrieval_score``: a greeting must not be routed to the finance pack because some
    passage is vaguely similar. A platform intent (greeting,
    human_agent, ...) decides by itself only when it reaches ``min_platform_confidence``: a
    domain question that the classifier half-heartedly calls ``platform:human_agent`` still
    goes to the pack whose passages match it.

    Args:
        prediction: the classifier's top prediction, or None when no classifier is loaded.
        pack_scores: best relevance per catalog pack (scores only, never text).
        generic_pack_ids: packs whose intents say nothing about the domain of a question.
        min_retrieval_score: the least score that routes a question by retrieval.
        min_platform_confidence: the least confidence at which a platform intent wins over
            retrieval.
    """
    if prediction is not None and prediction.pack_id and prediction.pack_id not in generic_pack_ids:
        return Route(pack_id=prediction.pack_id, by="intent", score=prediction.confidence)
    is_platform = prediction is not None and prediction.label.startswith("platform:")
    if is_platform and prediction.confidence >= min_platform_confidence:  # type: ignore[union-attr]
        return Route(pack_id=None, by="platform", score=prediction.confidence)  # type: ignore[union-attr]
    candidates = {p: s for p, s in pack_scores.items() if p not in generic_pack_ids}
    if candidates:
        best_pack, best_score = max(candidates.items(), key=lambda item: item[1])
        if best_score >= min_retrieval_score:
            return Route(pack_id=best_pack, by="retrieval", score=best_score)
    if is_platform:
        return Route(pack_id=None, by="platform", score=prediction.confidence)  # type: ignore[union-attr]
    if prediction is not None and prediction.label != OUT_OF_SCOPE:
        # A confident generic intent (cancel an order, track a refund): its template answers.
        return Route(pack_id=None, by="generic", score=prediction.confidence)
    generic_scores = [s for p, s in pack_scores.items() if p in generic_pack_ids]
    if generic_scores and max(generic_scores) >= min_retrieval_score:
        # No intent, but the generic packs' passages match: answer from the active packs.
        return Route(pack_id=None, by="generic", score=max(generic_scores))
    return Route(pack_id=None, by="none", score=0.0)
