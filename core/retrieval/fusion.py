"""Fusion of the dense and BM25 rankings for hybrid search.

Two methods are implemented:

* :func:`convex_fusion` (the default): a weighted sum of per-query min-max normalised scores,
  0.8 dense + 0.2 BM25. On every built-in pack it scores a higher nDCG@10 than dense-only and
  BM25-only, which reciprocal rank fusion did not (docs/retrieval.md has the numbers).
* :func:`reciprocal_rank_fusion` (Cormack et al., SIGIR 2009, k=60): scores an item
  ``sum_i w_i / (k + rank_i)``. It ignores score magnitudes, so when one side is much stronger
  (dense is, on these packs) its confident first place counts no more than the weaker side's,
  and fused quality dropped below dense-only. Kept as an option (``fusion="rrf"``).
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


DENSE_WEIGHT = 0.8  # measured on the built-in packs: see docs/retrieval.md and BENCHMARKS.md


def convex_fusion(
    dense: Sequence[tuple[Key, float]],
    lexical: Sequence[tuple[Key, float]],
    *,
    dense_weight: float = DENSE_WEIGHT,
) -> list[tuple[Key, float]]:
    """Weighted sum of min-max normalised scores, best first.

    Each side's candidate scores are scaled to 0..1 within this query's list (so BM25's
    unbounded scale and cosine's narrow band become comparable), then combined as
    ``dense_weight * dense + (1 - dense_weight) * bm25``; an item a side did not retrieve
    gets 0 from that side. Ties keep first-seen order (dense list first).
    """
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be in 0..1, got {dense_weight}")
    scores: dict[Key, float] = {}
    for ranking, weight in ((dense, dense_weight), (lexical, 1.0 - dense_weight)):
        if not ranking:
            continue
        values = [score for _, score in ranking]
        low, high = min(values), max(values)
        for item, score in ranking:
            normalised = (score - low) / (high - low) if high > low else 1.0
            scores[item] = scores.get(item, 0.0) + weight * normalised
    return sorted(scores.items(), key=lambda pair: -pair[1])
