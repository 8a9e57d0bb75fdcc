"""SearchService: the three modes, pack isolation, routing scores and every bad input."""

from __future__ import annotations

import pytest

from core.errors import PackNotFound, ValidationError
from core.retrieval.search import SearchHit

QUESTION = "How do I dispute a billing error on my credit card statement?"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_answer(service, mode: str) -> None:
    hits = service.search(QUESTION, pack_ids={"finance"}, k=3, mode=mode)
    assert hits[0].document_id == "fin-dispute"
    assert hits[0].pack_id == "finance"
    assert hits[0].source_url == "https://example.test/finance/dispute"
    assert all(isinstance(hit, SearchHit) and hit.mode == mode for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert len(hits) <= 3


def test_mode_scores_are_reported(service) -> None:
    dense = service.search(QUESTION, pack_ids={"finance"}, k=1, mode="dense")[0]
    bm25 = service.search(QUESTION, pack_ids={"finance"}, k=1, mode="bm25")[0]
    hybrid = service.search(QUESTION, pack_ids={"finance"}, k=1, mode="hybrid")[0]
    assert dense.bm25_score is None and 0 < dense.score <= 1
    assert bm25.dense_score is None and bm25.score > 0
    # Best on both sides: normalised 1.0 each, so 0.8 * 1 + 0.2 * 1.
    assert hybrid.score == pytest.approx(1.0)
    assert hybrid.dense_score == pytest.approx(dense.score)
    assert hybrid.bm25_score == pytest.approx(bm25.score)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_pack_isolation(service, mode: str) -> None:
    # The question matches the medical pack only; the caller may see finance alone.
    question = "What are the symptoms of influenza? fever cough sore throat"
    assert service.search(question, pack_ids={"medical"}, k=1, mode=mode)[0].pack_id == "medical"
    hits = service.search(question, pack_ids={"finance"}, k=20, mode=mode)
    assert {hit.pack_id for hit in hits} <= {"finance"}
    assert not any(hit.document_id.startswith("med-") for hit in hits)


def test_search_over_several_packs_merges_them(service) -> None:
    hits = service.search("flu vaccine and overdraft fees", pack_ids=["finance", "medical"], k=8)
    assert {hit.pack_id for hit in hits} == {"finance", "medical"}


def test_no_pack_ids_means_no_results(service) -> None:
    assert service.search(QUESTION, pack_ids=[], k=5) == []


def test_pack_scores_are_scores_only(service) -> None:
    scores = service.pack_scores("How is asthma treated?", ["finance", "medical"])
    assert set(scores) == {"finance", "medical"}
    assert all(type(value) is float for value in scores.values())
    assert scores["medical"] > scores["finance"]
    assert service.pack_scores("How is asthma treated?", ["finance"]).keys() == {"finance"}


def test_batch_search_matches_single_search(service) -> None:
    questions = [QUESTION, "How is asthma treated?"]
    batch = service.search_batch(questions, pack_ids={"finance", "medical"}, k=3)
    single = [service.search(q, pack_ids={"finance", "medical"}, k=3) for q in questions]
    # Padding in a batch moves vectors by float rounding only: same hits, near-equal scores.
    for batch_hits, single_hits in zip(batch, single, strict=True):
        assert [h.chunk_id for h in batch_hits] == [h.chunk_id for h in single_hits]
        assert [h.pack_id for h in batch_hits] == [h.pack_id for h in single_hits]
        for b, s in zip(batch_hits, single_hits, strict=True):
            assert b.score == pytest.approx(s.score, abs=1e-4)


def test_hits_are_frozen(service) -> None:
    hit = service.search(QUESTION, pack_ids={"finance"}, k=1)[0]
    with pytest.raises(AttributeError):
        hit.text = "changed"  # type: ignore[misc]
    assert hit.citation().document_id == "fin-dispute"


# --- bad input: one test per rejection reason ------------------------------------------------
@pytest.mark.parametrize("query", ["", "   \n\t"])
def test_empty_query_is_rejected(service, query: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        service.search(query, pack_ids={"finance"})


def test_too_long_query_is_rejected(service) -> None:
    with pytest.raises(ValidationError, match="501 characters.*limit is 500"):
        service.search("a" * 501, pack_ids={"finance"})


def test_unknown_pack_is_rejected(service) -> None:
    with pytest.raises(PackNotFound, match="'nope'"):
        service.search(QUESTION, pack_ids={"finance", "nope"})


def test_unknown_pack_is_rejected_for_scores(service) -> None:
    with pytest.raises(PackNotFound, match="'nope'"):
        service.pack_scores(QUESTION, ["nope"])


@pytest.mark.parametrize("k", [0, -1, 21, True, 2.5])
def test_k_out_of_range_is_rejected(service, k) -> None:
    with pytest.raises(ValidationError, match=r"k must be an integer in 1\.\.20"):
        service.search(QUESTION, pack_ids={"finance"}, k=k)


def test_unknown_mode_is_rejected(service) -> None:
    with pytest.raises(ValidationError, match="'semantic'"):
        service.search(QUESTION, pack_ids={"finance"}, mode="semantic")


def test_remove_pack_stops_searching_it(service, built_packs, embedder, backend) -> None:
    from core.retrieval.search import SearchService
    from core.retrieval.searcher import PackSearcher

    from .conftest import make_manifest

    local = SearchService(embedder)
    local.add_pack(
        "medical",
        PackSearcher.load(built_packs["medical"], make_manifest("medical"), embedder, backend),
    )
    local.remove_pack("medical")
    with pytest.raises(PackNotFound):
        local.search("asthma", pack_ids={"medical"})


def test_rrf_fusion_is_selectable(built_packs, embedder, backend) -> None:
    from core.retrieval.search import SearchService
    from core.retrieval.searcher import PackSearcher

    from .conftest import make_manifest

    rrf = SearchService(embedder, fusion="rrf")
    rrf.add_pack(
        "finance",
        PackSearcher.load(built_packs["finance"], make_manifest("finance"), embedder, backend),
    )
    top = rrf.search(QUESTION, pack_ids={"finance"}, k=1)[0]
    # Ranked first by both sides: RRF score 2 / (60 + 1).
    assert top.document_id == "fin-dispute" and top.score == pytest.approx(2 / 61)


def test_unknown_fusion_is_rejected(embedder) -> None:
    from core.retrieval.search import SearchService

    with pytest.raises(ValidationError, match="'max'"):
        SearchService(embedder, fusion="max")


class _CountingDense:
    """Wraps a searcher's ``dense`` to count the searches that reach the index."""

    def __init__(self, searcher) -> None:  # type: ignore[no-untyped-def]
        self.calls = 0
        self._dense = searcher.dense
        searcher.dense = self

    def __call__(self, vectors, k):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self._dense(vectors, k)


def test_an_answer_search_reuses_the_routing_pass_of_its_vector(service) -> None:
    question = "What are the symptoms of influenza?"
    vector = service.embed_queries([question])
    expected = service.search(question, pack_ids=["finance", "medical"], k=5, query_vector=vector)
    service.remove_pack("nonexistent")  # any change of the pack set forgets remembered results
    counters = {p: _CountingDense(service._packs[p]) for p in ("finance", "medical")}
    try:
        service.pack_scores(question, ["finance", "medical"], query_vector=vector)
        hits = service.search(question, pack_ids=["finance", "medical"], k=5, query_vector=vector)
        dense_only = service.search(question, pack_ids=["medical"], k=3, mode="dense",
                                    query_vector=vector)
    finally:
        for pack_id in counters:
            del service._packs[pack_id].dense  # the class's method again
    assert [c.calls for c in counters.values()] == [1, 1]  # one pass per pack, not three
    assert hits == expected
    assert [h.document_id for h in dense_only] == [
        h.document_id
        for h in service.search(question, pack_ids=["medical"], k=3, mode="dense")
    ]


def test_a_reloaded_pack_is_searched_again_not_read_from_memory(service) -> None:
    question = "How do I dispute a charge?"
    vector = service.embed_queries([question])
    service.pack_scores(question, ["finance"], query_vector=vector)
    searcher = service._packs["finance"]
    service.add_pack("finance", searcher)  # a new version would be another searcher object
    counter = _CountingDense(searcher)
    try:
        service.search(question, pack_ids=["finance"], k=3, query_vector=vector)
    finally:
        del searcher.dense
    assert counter.calls == 1
