"""The answering pipeline of ``POST /v1/ask``, without HTTP.

classify -> route -> entitlement check -> retrieve (active packs only) -> compose -> post-process
-> sentiment and handoff (every answer, offers included).
No text of a pack the caller may not read is ever put into an :class:`Answer`: routing uses
per-pack scores only, and retrieval is restricted to the caller's active packs, which the
entitlement service computes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from core.assistant.answer import Answer, HandoffInfo, IntentInfo, Offer
from core.assistant.compose import (
    candidate_sentences,
    select_sentences,
    shortlist,
    with_citation_markers,
)
from core.assistant.generator import AnswerGenerator, Passage
from core.assistant.handoff import FOLLOW_UP_MESSAGE, HandoffPolicy, TurnSignal
from core.assistant.routing import NO_DOMAIN, Route, RoutingPolicy, route_question
from core.assistant.sentiment import score_sentiment
from core.assistant.templates import render_template
from core.errors import GeneratorError
from core.intents.labels import OUT_OF_SCOPE
from core.packs.manifest import PLATFORM_PREFIX, Manifest, generic_pack_ids

logger = logging.getLogger("packdesk.assistant")

PASSAGES_IN_ANSWER = 2  # detail="full": the best passages as they are
SENTENCE_CACHE_SIZE = 8192  # passage sentences' vectors kept (384 floats each: about 12 MiB)
PASSAGE_CHARS = 700
GENERATOR_PASSAGES = 4


class Classifier(Protocol):
    def predict(self, texts: list[str]) -> list[Any]: ...

    def predict_vector(self, vector: Any) -> Any | None:
        """The prediction from the question's query vector (an intent head), or None when the
        model classifies text."""


class DomainHead(Protocol):
    """The domain head (core/intents/domain.py): class probabilities for a query vector."""

    def probabilities(self, vector: Any) -> dict[str, float]: ...

    def support(self, vector: Any, pack_ids: Iterable[str]) -> dict[str, float]: ...


class Searcher(Protocol):
    def search(
        self, query: str, *, pack_ids: Collection[str], k: int, mode: str, query_vector: Any = None
    ) -> list[Any]: ...

    def pack_scores(
        self, query: str, pack_ids: Collection[str], *, query_vector: Any = None
    ) -> dict[str, float]: ...

    def embed_queries(self, queries: Sequence[str]) -> Any: ...


Detail = Literal["brief", "full"]
"""How an extractive answer is composed: a few cited sentences, or whole passages."""

OneText = Callable[[str], Awaitable[Any]]
"""``text -> its result``: a model call for one question, batched with concurrent ones
(a :class:`core.batching.MicroBatcher`'s ``submit``)."""


ReadablePacks = Callable[[str], Awaitable[set[str]]]
"""``account_id -> ids of the packs it owns and has activated`` (the entitlement service)."""

OwnedPacks = Callable[[str], Awaitable[set[str]]]
"""``account_id -> ids of the packs it owns`` (activated or not)."""

PlaceholderValues = Callable[[str], Awaitable[Mapping[str, str]]]
"""``account_id -> {placeholder name: text}``, from its business profile."""

Offload = Callable[..., Awaitable[Any]]
"""``await offload(fn, *args, **kwargs)``: ``fn``'s result, computed off the event loop
(``asyncio.to_thread``, or :meth:`core.work_lane.WorkLane.run`)."""


@dataclass(frozen=True)
class AssistantConfig:
    routing: RoutingPolicy = RoutingPolicy()
    top_k: int = 5
    mode: str = "hybrid"
    generator_timeout_s: float = 10.0


class Assistant:
    """Answers one question for one account from the packs it may read."""

    def __init__(
        self,
        *,
        packs: Mapping[str, Manifest],
        search: Searcher,
        active_packs: ReadablePacks,
        owned_packs: OwnedPacks,
        classifier: Classifier | None = None,
        postprocess: Callable[[dict[str, Any], list[Manifest]], None] | None = None,
        config: AssistantConfig = AssistantConfig(),
        handoff_policy: HandoffPolicy | None = None,
        generator: AnswerGenerator | None = None,
        classify: OneText | None = None,
        embed_query: OneText | None = None,
        platform_pack_ids: Collection[str] = frozenset(),
        placeholder_values: PlaceholderValues | None = None,
        domain_model: DomainHead | None = None,
        offload: Offload = asyncio.to_thread,
    ) -> None:
        """``classify`` (question -> Prediction) and ``embed_query`` (question -> its vector)
        replace the direct ``classifier.predict`` / ``search.embed_queries`` calls; the server
        passes micro-batchers here so concurrent questions share forward passes.

        ``platform_pack_ids``: the packs trusted to answer platform intents (greeting, human
        agent, ...) with their reply templates: the built-in packs and those the operator
        allows. Any other pack's ``platform:*`` templates are never used.

        ``placeholder_values``: ``account_id -> {placeholder: text}`` from the caller's business
        profile; reply templates are rendered from it (:mod:`core.assistant.templates`).

        ``domain_model``: the domain head whose probabilities routing uses (docs/routing.md);
        None routes by the intent and retrieval rules alone.

        ``offload``: how the blocking work of a question (routing scores, the search) leaves
        the event loop: ``asyncio.to_thread`` by default; the server passes its search lane
        (:class:`core.work_lane.WorkLane`), whose one thread hands results back in batches.
        """
        self._offload = offload
        self._domain_model = domain_model
        self._platform_pack_ids = frozenset(platform_pack_ids)
        self._sentence_vectors: OrderedDict[str, Any] = OrderedDict()
        self._placeholder_values = placeholder_values
        self._classify_one = classify
        self._embed_query = embed_query
        self._packs = packs
        self._search = search
        self._active_packs = active_packs
        self._owned_packs = owned_packs
        self._classifier = classifier
        self._postprocess = postprocess
        self._config = config
        self._handoff_policy = handoff_policy or HandoffPolicy()
        self._generator = generator

    async def ask(
        self,
        account_id: str,
        question: str,
        *,
        previous_turns: Sequence[TurnSignal] = (),
        detail: Detail = "brief",
    ) -> Answer:
        """Answer ``question`` for ``account_id``, with its sentiment and handoff decision.

        A handed-off answer carries no offer and says a person will follow up (docs/privacy.md,
        "Handoff rules"); the handoff detector reads ``question`` itself, not only its intent.

        Args:
            question: the customer's original text (classification and retrieval need it as
                written; redaction is for what is logged or stored).
            previous_turns: the earlier turns of the same conversation, oldest first; they feed
                the "two low-confidence turns in a row" handoff rule.
            detail: ``"brief"``: an answer composed from the best sentences, each followed by
                its citation marker; ``"full"``: the best passages as they are.
        """
        answer = await self._answer(account_id, question, detail)
        answer.sentiment = sentiment = score_sentiment(question)
        signal = TurnSignal.of(
            answer.intent.label, answer.intent.confidence, answered=not answer.out_of_scope
        )
        decision = self._handoff_policy.decide(
            intent_label=signal.intent_label,
            confidence=signal.confidence,
            sentiment_compound=sentiment.compound,
            previous_turns=previous_turns,
            message=question,
        )
        answer.handoff = HandoffInfo(handoff=decision.handoff, reason=decision.reason)
        if decision.handoff:
            # A person takes over: never an upsell. An offer's or a "can't help" text is
            # replaced by the follow-up message; a content answer keeps its content (and
            # citations) with the follow-up message as its last paragraph.
            if answer.offer is not None or answer.out_of_scope or not answer.text.strip():
                answer.text = FOLLOW_UP_MESSAGE
            else:
                answer.text = f"{answer.text.rstrip()}\n\n{FOLLOW_UP_MESSAGE}"
            answer.offer = None
        return answer

    async def _answer(self, account_id: str, question: str, detail: Detail) -> Answer:
        prediction, vector = await self._classify_and_embed(question)
        intent = IntentInfo(
            label=prediction.label if prediction else OUT_OF_SCOPE,
            confidence=round(float(prediction.confidence), 4) if prediction else 0.0,
        )
        (pack_scores, domain, support), active = await asyncio.gather(
            self._offload(self._routing_scores, question, vector),
            self._active_packs(account_id),
        )
        # Read per question: an approval adds packs while the server runs.
        generic = generic_pack_ids(self._packs.values())
        route = route_question(
            prediction,
            pack_scores,
            generic_pack_ids=generic,
            active_pack_ids=active,
            policy=self._config.routing,
            domain=domain,
            domain_support=support,
        )
        if route.pack_id is not None and route.pack_id not in active:
            return await self._offer(account_id, route, intent)
        if route.by == "generic":
            # The generic pack keeps the question even when a domain intent ranked first
            # (a refund for an order): its own best intent's template, else its passages.
            template = self._generic_template(prediction, active & generic)
        else:
            template = self._reply_template(intent.label, active)
        if template is not None:
            template = render_template(template, await self._values(account_id))
        if route.by in ("platform", "generic") and template:
            return self._finish(
                Answer(text=template, intent=intent, composed_by="template"), cited=[]
            )
        if route.pack_id is None and route.by in ("none", "platform"):
            return self._out_of_scope(intent, active)
        searchable = active & generic if route.by == "generic" else active
        return await self._answer_from_packs(
            question, vector, intent, route, searchable, template, detail
        )

    def _routing_scores(
        self, question: str, vector: Any
    ) -> tuple[dict[str, float], dict[str, float] | None, dict[str, float] | None]:
        """Per catalog pack, the best passage cosine (scores only, never text); the domain
        head's probabilities and its support for the packs that could claim the question.

        In one worker thread: the support reads thousands of exemplar vectors per claiming
        pack (8,149 for finance), a millisecond of matrix work kept off the event loop.
        """
        pack_scores = self._search.pack_scores(question, list(self._packs), query_vector=vector)
        domain = self._domain(vector)
        return pack_scores, domain, self._domain_support(vector, domain)

    def _domain(self, vector: Any) -> dict[str, float] | None:
        """The domain head's probabilities for the served packs and ``"none"`` (a pack it
        knows that is no longer served is left out), or None without a head."""
        if self._domain_model is None:
            return None
        probabilities = self._domain_model.probabilities(vector)
        return {c: p for c, p in probabilities.items() if c in self._packs or c == NO_DOMAIN}

    def _domain_support(
        self, vector: Any, domain: dict[str, float] | None
    ) -> dict[str, float] | None:
        """The head's support for the packs whose probability could claim the question (the
        others cannot claim it whatever their support), and then for ``none`` (routing compares
        the two)."""
        if self._domain_model is None or domain is None:
            return None
        floor = self._config.routing.min_domain_probability
        candidates = [c for c, p in domain.items() if c != NO_DOMAIN and p >= floor]
        return self._domain_model.support(vector, [*candidates, NO_DOMAIN]) if candidates else {}

    def _generic_template(self, prediction: Any | None, generic_active: set[str]) -> str | None:
        """The reply template of the best-ranked intent of a generic pack the caller reads."""
        if prediction is None:
            return None
        ranked = getattr(prediction, "top_k", None) or [(prediction.label, prediction.confidence)]
        for label, _ in ranked:
            if label.partition(":")[0] in generic_active:
                template = self._reply_template(label, generic_active)
                if template:
                    return template
        return None

    async def _values(self, account_id: str) -> Mapping[str, str]:
        if self._placeholder_values is None:
            return {}
        return await self._placeholder_values(account_id)

    async def _embed(self, question: str) -> Any:
        if self._embed_query is not None:
            return await self._embed_query(question)
        vectors = await self._offload(self._search.embed_queries, [question])
        return vectors[0]

    async def _classify_and_embed(self, question: str) -> tuple[Any | None, Any]:
        """The question's intent and its query vector, which also serves routing (pack_scores,
        the domain head) and retrieval (search).

        An intent head classifies that very vector (one model pass per question); a fine-tuned
        classifier runs its own pass, side by side with the embedder.
        """
        if getattr(self._classifier, "reads_query_vector", False):
            vector = await self._embed(question)
            prediction = self._classifier.predict_vector(vector)  # type: ignore[union-attr]
            if prediction is not None:
                return prediction, vector
            return await self._classify(question), vector  # swapped to a text model meanwhile
        prediction, vector = await asyncio.gather(self._classify(question), self._embed(question))
        return prediction, vector

    async def _classify(self, question: str) -> Any | None:
        if self._classify_one is not None:
            return await self._classify_one(question)
        if self._classifier is None:
            return None
        predictions = await self._offload(self._classifier.predict, [question])
        return predictions[0]

    async def _offer(self, account_id: str, route: Route, intent: IntentInfo) -> Answer:
        assert route.pack_id is not None
        manifest = self._packs[route.pack_id]
        owned = route.pack_id in await self._owned_packs(account_id)
        offer = Offer(
            pack_id=manifest.id,
            name=manifest.name,
            price=manifest.pricing.model_dump(),
            checkout_path="/v1/checkout",
            owned=owned,
            activate_path=f"/v1/packs/{manifest.id}/activate",
        )
        if owned:
            text = (
                f"The {manifest.name} pack can answer this, and you own it: activate it to get "
                "an answer."
            )
        else:
            text = (
                f"The {manifest.name} pack can answer this. It is not part of your plan yet: "
                "buy it to get an answer."
            )
        return Answer(text=text, intent=intent, offer=offer, routed_pack_id=manifest.id)

    def _out_of_scope(self, intent: IntentInfo, active: set[str]) -> Answer:
        """A short polite reply that says what the assistant can help with; never an offer."""
        names = sorted(self._packs[p].name for p in active if p in self._packs)
        if names:
            topics = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
            text = (
                "Sorry, I can't help with that here. I can answer questions about "
                f"{topics}: feel free to ask about those."
            )
        else:
            text = "Sorry, I can't help with that here, and I have no topics to answer yet."
        return Answer(text=text, intent=intent, out_of_scope=True)

    async def _answer_from_packs(
        self,
        question: str,
        vector: Any,
        intent: IntentInfo,
        route: Route,
        active: set[str],
        template: str | None,
        detail: Detail,
    ) -> Answer:
        searchable = [p for p in active if p in self._packs]
        if route.pack_id is not None:
            searchable = [route.pack_id]
        hits = []
        if searchable:
            hits = await self._offload(
                self._search.search,
                question,
                pack_ids=searchable,
                k=self._config.top_k,
                mode=self._config.mode,
                query_vector=vector,
            )
        if not hits:
            return self._out_of_scope(intent, active)
        composed_by = "template" if template else "extractive"
        if template:
            text = template
        else:
            generated = await self._generate(question, hits)
            if generated is not None:
                text, composed_by = generated, self._generator.name  # type: ignore[union-attr]
            elif detail == "full":
                passages = [h.text.strip()[:PASSAGE_CHARS] for h in hits[:PASSAGES_IN_ANSWER]]
                text = "\n\n".join(passages)
            else:
                text = await self._brief(question, vector, hits)
        citations = [hit.citation() for hit in hits]
        answer = Answer(
            text=text,
            intent=intent,
            citations=citations,
            routed_pack_id=route.pack_id,
            composed_by=composed_by,
        )
        return self._finish(answer, cited=sorted({c.pack_id for c in citations}))

    async def _brief(self, question: str, question_vector: Any, hits: list[Any]) -> str:
        """The best whole sentences of the top passages, each with its citation marker."""
        candidates = shortlist(
            candidate_sentences([hit.text for hit in hits],
                                opens_document=[hit.position == 0 for hit in hits]),
            question,
        )
        if not candidates:  # passages without a usable sentence: the best one, whole
            return f"{hits[0].text.strip()[:PASSAGE_CHARS]} [1]"
        vectors = await asyncio.gather(*(self._sentence_vector(c.text) for c in candidates))
        scores = np.asarray(vectors, dtype=np.float32) @ np.asarray(question_vector).reshape(-1)
        return with_citation_markers(select_sentences(candidates, scores))

    async def _sentence_vector(self, sentence: str) -> Any:
        """A passage sentence's vector: from the cache (frequent questions hit the same
        passages), else through the query micro-batcher, so the sentences of concurrent answers
        share its forward passes."""
        cached = self._sentence_vectors.get(sentence)
        if cached is not None:
            self._sentence_vectors.move_to_end(sentence)
            return cached
        vector = await self._embed(sentence)
        self._sentence_vectors[sentence] = vector
        if len(self._sentence_vectors) > SENTENCE_CACHE_SIZE:
            self._sentence_vectors.popitem(last=False)
        return vector

    async def _generate(self, question: str, hits: list[Any]) -> str | None:
        """The generator's answer from the retrieved passages, or None to stay extractive."""
        if self._generator is None:
            return None
        passages = [
            Passage(pack_id=h.pack_id, document_id=h.document_id, title=h.title, text=h.text)
            for h in hits[:GENERATOR_PASSAGES]
        ]
        try:
            return await asyncio.wait_for(
                self._generator.compose(question, passages),
                timeout=self._config.generator_timeout_s,
            )
        except (GeneratorError, TimeoutError) as exc:
            logger.warning("generator failed, answering extractively: %s", exc)
            return None

    def _finish(self, answer: Answer, *, cited: list[str]) -> Answer:
        manifests = [self._packs[p] for p in cited if p in self._packs]
        answer.disclaimers = [m.disclaimer for m in manifests if m.disclaimer]
        if self._postprocess is not None:
            payload: dict[str, Any] = {
                "text": answer.text,
                "disclaimers": list(answer.disclaimers),
                "citations": [citation.to_dict() for citation in answer.citations],
            }
            self._postprocess(payload, manifests)
            answer.text = str(payload["text"])
            answer.disclaimers = list(payload["disclaimers"])
        return answer

    def _reply_template(self, label: str, readable: Collection[str]) -> str | None:
        """The reply template for ``label`` from a pack the caller may read.

        A pack intent's template comes from that pack only; a platform intent's from the
        caller's active packs that are trusted for platform intents, in pack id order. So no
        customer ever gets text of a pack it has not activated, and an uploaded pack cannot
        answer every customer's greeting.
        """
        pack_id, _, _ = label.partition(":")
        if pack_id == PLATFORM_PREFIX:
            candidates = sorted(p for p in readable if p in self._platform_pack_ids)
        else:
            candidates = [pack_id] if pack_id in readable else []
        for candidate in candidates:
            manifest = self._packs.get(candidate)
            if manifest is None:
                continue
            for intent in manifest.intents:
                if intent.label(manifest.id) == label and intent.reply_template:
                    return intent.reply_template
        return None


__all__ = ["Assistant", "AssistantConfig"]
