"""Sentiment of a customer message: VADER compound score and a three-way label.

VADER (``vaderSentiment``) is a lexicon/rule model: no weights to download, a few ms per
message. Its lexicon is loaded once, on the first call, so importing this module stays cheap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

SentimentLabel = Literal["positive", "neutral", "negative"]

# The cut-offs recommended by VADER's authors (Hutto & Gilbert, 2014).
POSITIVE_CUTOFF = 0.05
NEGATIVE_CUTOFF = -0.05

_analyzer: Any = None
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Sentiment:
    """VADER compound score in [-1, 1] and its label."""

    compound: float
    label: SentimentLabel


def label_for(compound: float) -> SentimentLabel:
    """Map a compound score to a label with the standard +-0.05 cut-offs."""
    if compound >= POSITIVE_CUTOFF:
        return "positive"
    if compound <= NEGATIVE_CUTOFF:
        return "negative"
    return "neutral"


def _get_analyzer() -> Any:
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def warm_up() -> None:
    """Load the VADER lexicon now (idempotent), e.g. at server start."""
    _get_analyzer()


def score_sentiment(text: str) -> Sentiment:
    """Score one message.

    Args:
        text: the customer's message (original or redacted; placeholders are neutral words).

    Returns:
        The compound score (rounded to 4 places) and its label.
    """
    compound = round(float(_get_analyzer().polarity_scores(text)["compound"]), 4)
    return Sentiment(compound=compound, label=label_for(compound))
