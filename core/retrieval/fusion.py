"""Rank fusion for hybrid search: reciprocal rank fusion (Cormack et al., SIGIR 2009).

RRF scores an item ``sum_i w_i / (k + rank_i)`` over the ranked lists it appears in (rank from
1). It needs no score calibration between cosine similarity and BM25, whose scales differ per
pack and per query, which is why PackDesk fuses ranks rather than weighted raw scores.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60  # the constant from the original paper; damps the weight of the very top ranks

Key = TypeVar("Key", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Key]],
    *,
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
) -> list[tuple[Key, float]]:
    """Fuse ranked lists (best first) into one list of ``(item, rrf score)``, best first.

    Ties keep the order in which items were first seen (list order, then rank), so results are
    deterministic.
    """
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[Key, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
