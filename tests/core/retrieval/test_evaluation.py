"""Evaluation metrics and evaluation sets built from documents' metadata."""

from __future__ import annotations

import math

import pytest

from core.errors import ValidationError
from core.packs.documents import Document
from core.retrieval.evaluation import (
    EvalCase,
    cases_from_documents,
    evaluate,
    leaked_questions,
    ranked_documents,
    score_ranking,
)

from .conftest import FINANCE_DOCS


def test_metrics_on_a_known_ranking() -> None:
    scores = score_ranking(["a", "b", "c"], frozenset({"b", "z"}))
    assert scores["recall@1"] == 0
    assert scores["recall@5"] == 0.5
    assert scores["mrr@10"] == 0.5
    ideal = 1 + 1 / math.log2(3)
    assert scores["ndcg@10"] == pytest.approx((1 / math.log2(3)) / ideal)


def test_perfect_ranking_scores_one() -> None:
    assert set(score_ranking(["a"], frozenset({"a"})).values()) == {1.0}


def test_chunks_collapse_to_documents_in_first_seen_order() -> None:
    assert ranked_documents(["d1", "d2", "d1", "d3", "d2"]) == ["d1", "d2", "d3"]


def test_cases_merge_repeated_questions() -> None:
    docs = [
        Document(id="x", text="t", metadata={"eval_questions": ["What is X?", "Why X?"]}),
        Document(id="y", text="t", metadata={"eval_questions": ["What is X?"]}),
        Document(id="z", text="t"),
    ]
    cases = {case.question: case.relevant for case in cases_from_documents(docs)}
    assert cases == {"What is X?": frozenset({"x", "y"}), "Why X?": frozenset({"x"})}


def test_leaked_questions_are_counted() -> None:
    docs = [Document(id="x", title="Q", text="What is X? X is a letter.")]
    assert leaked_questions(docs, [EvalCase("what is x?", frozenset({"x"}))]) == 1
    assert leaked_questions(FINANCE_DOCS, cases_from_documents(FINANCE_DOCS)) == 0


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_evaluate_a_pack(service, mode: str) -> None:
    report = evaluate(service, "finance", cases_from_documents(FINANCE_DOCS), mode=mode)
    assert report.cases == len(FINANCE_DOCS)
    assert report.metrics["recall@10"] == 1.0  # four documents: all are in the top 10
    assert 0.5 <= report.metrics["ndcg@10"] <= 1.0
    assert report.to_json()["mode"] == mode


def test_evaluate_without_questions_is_rejected(service) -> None:
    with pytest.raises(ValidationError, match="no evaluation questions"):
        evaluate(service, "finance", [])
