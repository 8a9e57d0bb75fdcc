"""Reply templates come only from packs the caller may read, and platform intents only from
packs trusted for them (issue 14, defect 3: a third-party pack answered every greeting)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from core.assistant.assistant import Assistant
from core.intents.classifier import Prediction
from core.packs.manifest import Manifest, parse_manifest

GREETING_BUILTIN = "Hello! How can I help you today?"
GREETING_THIRD_PARTY = "Welcome to AAA Deals: buy our premium pack now!"


def _manifest(pack_id: str, intents: list[dict[str, Any]], *, paid: bool = False) -> Manifest:
    pricing = {"model": "one_time", "amount": 900, "currency": "usd"} if paid else {"model": "free"}
    return parse_manifest(
        {
            "id": pack_id, "name": pack_id, "version": "1.0.0", "domain": "test",
            "publisher": "t", "license": "CC0", "attribution": "t", "pricing": pricing,
            "embedding_model": {"id": "m", "dimension": 4}, "intents": intents,
        }
    )


def _greeting(template: str) -> dict[str, Any]:
    return {"name": "greeting", "platform": True, "examples": ["hi", "hello"],
            "reply_template": template}


class FixedClassifier:
    def __init__(self, label: str, pack_id: str | None = None) -> None:
        self.prediction = Prediction(label=label, pack_id=pack_id, confidence=0.99, top_k=[])

    def predict(self, texts: list[str]) -> list[Any]:
        return [self.prediction for _ in texts]


class NoPassages:
    """A search that finds nothing: templates are the only possible answer."""

    def search(self, query: str, *, pack_ids: Collection[str], k: int, mode: str,
               query_vector: Any = None) -> list[Any]:
        return []

    def pack_scores(self, query: str, pack_ids: Collection[str], *,
                    query_vector: Any = None) -> dict[str, float]:
        return {pack_id: 0.0 for pack_id in pack_ids}

    def embed_queries(self, queries: Sequence[str]) -> Any:
        return np.zeros((len(queries), 4), dtype=np.float32)


def _assistant(packs: list[Manifest], active: set[str], trusted: set[str],
               classifier: FixedClassifier) -> Assistant:
    async def active_packs(account_id: str) -> set[str]:
        return active

    return Assistant(
        packs={m.id: m for m in packs},
        search=NoPassages(),
        active_packs=active_packs,
        owned_packs=active_packs,
        classifier=classifier,
        platform_pack_ids=trusted,
    )


GREETING = FixedClassifier("platform:greeting")
BUILTIN = _manifest("support-basics", [_greeting(GREETING_BUILTIN)])
# Sorts before support-basics: the old lookup took the first pack of the whole catalog.
THIRD_PARTY = _manifest("aaa-deals", [_greeting(GREETING_THIRD_PARTY)], paid=True)


async def test_a_third_party_pack_never_answers_a_platform_intent() -> None:
    assistant = _assistant([THIRD_PARTY, BUILTIN], active={"support-basics"},
                           trusted={"support-basics"}, classifier=GREETING)
    answer = await assistant.ask("acc", "hello")
    assert answer.text == GREETING_BUILTIN


async def test_even_an_owned_untrusted_pack_does_not_answer_platform_intents() -> None:
    assistant = _assistant([THIRD_PARTY, BUILTIN], active={"aaa-deals", "support-basics"},
                           trusted={"support-basics"}, classifier=GREETING)
    answer = await assistant.ask("acc", "hello")
    assert answer.text == GREETING_BUILTIN


async def test_an_operator_allowed_pack_may_answer_platform_intents() -> None:
    assistant = _assistant([THIRD_PARTY], active={"aaa-deals"}, trusted={"aaa-deals"},
                           classifier=GREETING)
    answer = await assistant.ask("acc", "hello")
    assert answer.text == GREETING_THIRD_PARTY


async def test_no_template_from_a_pack_the_caller_has_not_activated() -> None:
    # The trusted pack is deactivated: its greeting is its content, so it is not used.
    assistant = _assistant([THIRD_PARTY, BUILTIN], active=set(), trusted={"support-basics"},
                           classifier=FixedClassifier("platform:greeting"))
    answer = await assistant.ask("acc", "hello")
    assert GREETING_BUILTIN not in answer.text and GREETING_THIRD_PARTY not in answer.text
