"""Composed answers through the HTTP API: brief by default (whole sentences with citation
markers that match the citations), whole passages with ``"detail": "full"``."""

from __future__ import annotations

import re

from core.assistant.compose import MAX_SENTENCES, MAX_WORDS
from tests.api.conftest import bearer, buy_and_activate

MARKER = re.compile(r" \[(\d+)\]")


def _passage_text(built_packs, citation: dict) -> str:  # type: ignore[no-untyped-def]
    documents = built_packs.documents[citation["pack_id"]]
    return next(d["text"] for d in documents if d["id"] == citation["document_id"])


def test_brief_answers_are_whole_cited_sentences(client, accounts, built_packs) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    buy_and_activate(client, customer, "finance")
    questions = [d["metadata"]["eval_questions"][0] for d in built_packs.documents["finance"][:8]]
    composed = 0
    for question in questions:
        body = client.post("/v1/ask", json={"question": question}, headers=customer).json()
        if body["composed_by"] != "extractive":
            continue  # a template or an offer: nothing composed from passages
        composed += 1
        pieces = MARKER.split(body["text"])  # sentence, n, sentence, n, ...
        sentences, markers = pieces[0::2][:-1], [int(n) for n in pieces[1::2]]
        assert pieces[-1] == "" and markers, body["text"]  # every sentence ends with a marker
        assert len(sentences) <= MAX_SENTENCES
        assert all(1 <= n <= len(body["citations"]) for n in markers)
        words = sum(len(s.split()) for s in sentences)
        assert words <= MAX_WORDS or len(sentences) == 1
        for sentence, n in zip(sentences, markers, strict=True):
            # never cut: the whole sentence is in the passage its marker cites
            source = _passage_text(built_packs, body["citations"][n - 1])
            assert sentence.strip().rstrip(".") in " ".join(source.split()), (sentence, n)
    assert composed >= 4


def test_full_detail_keeps_whole_passages(client, accounts, built_packs) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    buy_and_activate(client, customer, "finance")
    question = built_packs.documents["finance"][0]["metadata"]["eval_questions"][0]
    body = client.post(
        "/v1/ask", json={"question": question, "detail": "full"}, headers=customer
    ).json()
    assert body["composed_by"] == "extractive"
    assert not MARKER.search(body["text"])
    assert body["text"].split("\n\n")[0][:200] in _passage_text(built_packs, body["citations"][0])
