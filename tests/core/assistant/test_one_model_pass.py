"""With an intent head the assistant runs one model pass per question: the query embedding it
needs for retrieval is also what the head classifies."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from core.assistant.assistant import Assistant
from core.intents.classifier import Prediction
from tests.core.assistant.test_routing import FINANCE, SUPPORT


class CountingSearch:
    def __init__(self) -> None:
        self.embedded: list[list[str]] = []

    def search(self, query, *, pack_ids, k, mode, query_vector=None):  # type: ignore[no-untyped-def]
        return []

    def pack_scores(self, query, pack_ids, *, query_vector=None):  # type: ignore[no-untyped-def]
        return {p: 0.1 for p in pack_ids}

    def embed_queries(self, queries):  # type: ignore[no-untyped-def]
        self.embedded.append(list(queries))
        return np.full((len(queries), 4), 0.5, dtype=np.float32)


class HeadLike:
    """Classifies vectors; ``serving_text_model`` simulates a swap to a fine-tuned model."""

    reads_query_vector = True

    def __init__(self, serving_text_model: bool = False) -> None:
        self.serving_text_model = serving_text_model
        self.vectors: list[Any] = []
        self.texts: list[str] = []

    def predict_vector(self, vector: Any) -> Prediction | None:
        self.vectors.append(vector)
        if self.serving_text_model:
            return None
        return Prediction("platform:greeting", None, 0.99, [("platform:greeting", 0.99)])

    def predict(self, texts: list[str]) -> list[Prediction]:
        self.texts += texts
        return [Prediction("platform:greeting", None, 0.98, [("platform:greeting", 0.98)])
                for _ in texts]


def ask(classifier: HeadLike) -> tuple[Any, CountingSearch]:
    search = CountingSearch()

    async def packs(account_id: str) -> set[str]:
        return {"support-basics"}

    assistant = Assistant(packs={"finance": FINANCE, "support-basics": SUPPORT}, search=search,
                          active_packs=packs, owned_packs=packs, classifier=classifier)
    return asyncio.run(assistant.ask("acct", "hello there")), search


def test_a_head_classifies_the_query_vector_the_pipeline_computed() -> None:
    head = HeadLike()
    answer, search = ask(head)
    assert search.embedded == [["hello there"]]  # one embedding, no classifier pass
    assert head.texts == []
    assert len(head.vectors) == 1 and np.allclose(head.vectors[0], 0.5)
    assert answer.intent.label == "platform:greeting" and answer.intent.confidence == 0.99


def test_a_model_swapped_to_a_text_classifier_meanwhile_still_classifies() -> None:
    swapped = HeadLike(serving_text_model=True)
    answer, search = ask(swapped)
    assert swapped.texts == ["hello there"] and len(search.embedded) == 1
    assert answer.intent.label == "platform:greeting" and answer.intent.confidence == 0.98
