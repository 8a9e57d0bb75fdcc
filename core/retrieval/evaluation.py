"""Retrieval evaluation: recall@1/5/10, MRR@10 and nDCG@10 over (question, relevant document ids).

Relevance is binary and judged per document: a search returns chunks, and the ranked list that
is scored is the documents of those chunks in order of their first chunk (later chunks of an
already-seen document are skipped). The built-in packs keep the dataset's own questions in each
document's ``metadata["eval_questions"]``, which is never indexed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.errors import ValidationError
from core.packs.documents import Document

CUTOFFS = (1, 5, 10)
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
EVAL_QUESTIONS_KEY = "eval_questions"


@dataclass(frozen=True)
class EvalCase:
    """One question and the ids of the documents that answer it."""

    question: str
    relevant: frozenset[str]


@dataclass
class EvalReport:
    """Mean metrics of one pack and mode over ``cases`` questions."""

    pack_id: str
    mode: str
    cases: int
    metrics: dict[str, float] = field(default_factory=dict)
    leaked_questions: int = 0  # questions found verbatim in the indexed text of their answer

    def to_json(self) -> dict[str, object]:
        return {
            "pack_id": self.pack_id,
            "mode": self.mode,
            "cases": self.cases,
            "leaked_questions": self.leaked_questions,
            **{name: round(value, 4) for name, value in self.metrics.items()},
        }


def cases_from_documents(documents: Iterable[Document]) -> list[EvalCase]:
    """The evaluation set of a pack: every ``metadata["eval_questions"]`` entry.

    A question asked of several documents (templated datasets repeat some) is one case with
    all those documents relevant.
    """
    relevant: dict[str, set[str]] = {}
    for document in documents:
        questions = document.metadata.get(EVAL_QUESTIONS_KEY) or []
        if isinstance(questions, str):
            questions = [questions]
        for question in questions:
            if isinstance(question, str) and question.strip():
                relevant.setdefault(question.strip(), set()).add(document.id)
    return [EvalCase(question, frozenset(ids)) for question, ids in relevant.items()]


def leaked_questions(documents: Iterable[Document], cases: Iterable[EvalCase]) -> int:
    """How many questions appear verbatim (case-insensitively) in an answer's indexed text.

    Evaluation is only meaningful when this is 0: otherwise BM25 matches the question itself.
    """
    indexed = {doc.id: f"{doc.title}\n{doc.text}".lower() for doc in documents}
    return sum(
        1
        for case in cases
        if any(case.question.lower() in indexed.get(doc_id, "") for doc_id in case.relevant)
    )


def ranked_documents(document_ids: Iterable[str]) -> list[str]:
    """Document ids in order of first appearance (chunks of one document collapse)."""
    seen: dict[str, None] = {}
    for document_id in document_ids:
        seen.setdefault(document_id, None)
    return list(seen)


def recall_at(ranked: Sequence[str], relevant: frozenset[str], k: int) -> float:
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at(ranked: Sequence[str], relevant: frozenset[str], k: int) -> float:
    for rank, document_id in enumerate(ranked[:k], start=1):
        if document_id in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: frozenset[str], k: int) -> float:
    """Binary-relevance nDCG: DCG of the ranking over the DCG of a perfect one."""
    dcg = sum(
        1.0 / math.log2(rank + 1)
        for rank, document_id in enumerate(ranked[:k], start=1)
        if document_id in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def score_ranking(ranked: Sequence[str], relevant: frozenset[str]) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one question."""
    if not relevant:
        raise ValidationError("an evaluation case needs at least one relevant document id")
    return {
        **{f"recall@{k}": recall_at(ranked, relevant, k) for k in CUTOFFS},
        "mrr@10": mrr_at(ranked, relevant, 10),
        "ndcg@10": ndcg_at(ranked, relevant, 10),
    }


def mean_metrics(per_question: Sequence[dict[str, float]]) -> dict[str, float]:
    if not per_question:
        return {name: 0.0 for name in METRICS}
    return {name: sum(row[name] for row in per_question) / len(per_question) for name in METRICS}


def evaluate(
    service: object,
    pack_id: str,
    cases: Sequence[EvalCase],
    *,
    mode: str = "hybrid",
    batch_size: int = 64,
    depth: int | None = None,
) -> EvalReport:
    """Search every case's question in ``pack_id`` and average the metrics.

    Args:
        service: a :class:`core.retrieval.search.SearchService` with the pack loaded.
        depth: chunks retrieved per question (default: the service's ``max_top_k``), enough
            that the top 10 distinct documents are known.
    Raises:
        ValidationError: no cases.
    """
    from core.retrieval.search import SearchService

    if not isinstance(service, SearchService):
        raise TypeError("evaluate() needs a SearchService")
    if not cases:
        raise ValidationError(
            f"pack {pack_id!r} has no evaluation questions (documents' metadata.eval_questions)"
        )
    depth = depth or service.max_top_k
    rows = []
    for start in range(0, len(cases), batch_size):
        batch = cases[start : start + batch_size]
        results = service.search_batch(
            [case.question[: service.max_query_chars] for case in batch],
            pack_ids=[pack_id],
            k=depth,
            mode=mode,
        )
        for case, hits in zip(batch, results, strict=True):
            ranked = ranked_documents(hit.document_id for hit in hits)
            rows.append(score_ranking(ranked, case.relevant))
    return EvalReport(pack_id=pack_id, mode=mode, cases=len(cases), metrics=mean_metrics(rows))
