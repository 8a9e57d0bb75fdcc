"""BM25 query analysis: the fast per-query path analyses text exactly as the index did."""

from __future__ import annotations

import pytest

from core.retrieval.lexical import Bm25Index, _stemmer, analyze, query_terms

TEXTS = [
    "How do I dispute a charge on my credit card?",
    "Mortgages, mortgage; MORTGAGED!! and the treatments' treatment",
    "The of and a to in",  # only stop words
    "x y z 1 2",  # only one-character words
    "",
    "Café naïve façade — Übergrößen déjà-vu",
    "e-mail me at jane.doe@example.com or +1 (555) 010-9999 re: order #12345",
    "don't won't it's I'm they've",
    "tab\tseparated\nnew lines   and    spaces",
    "Habeas corpus: ad subjiciendum et recipiendum",
    "1099-INT 401(k) W-2 forms",
    "ＦＵＬＬＷＩＤＴＨ letters and 漢字 text",
]


@pytest.mark.parametrize("text", TEXTS)
def test_query_terms_match_the_index_analysis(text: str) -> None:
    assert query_terms(text) == analyze([text], _stemmer())[0]


def test_a_search_scores_the_same_terms_however_the_query_was_analysed() -> None:
    index = Bm25Index.build(
        ["Dispute a credit card charge with your bank", "Reset a forgotten password", "Refunds"]
    )

    by_text = index.search("disputing charges on credit cards", 3)
    by_terms = index.search_terms(query_terms("disputing charges on credit cards"), 3)

    assert by_text[1].tolist() == by_terms[1].tolist() == [0]
    assert by_text[0].tolist() == by_terms[0].tolist()
    assert index.search("the of and", 3)[1].tolist() == []
