"""Brief extractive answers: whole sentences, at most three, about 90 words, each cited."""

from __future__ import annotations

import re

import numpy as np

from core.assistant.compose import (
    MAX_SENTENCES,
    MAX_WORDS,
    Sentence,
    candidate_sentences,
    select_sentences,
    split_sentences,
    with_citation_markers,
)


def test_split_keeps_whole_sentences_and_abbreviations() -> None:
    text = (
        'Cards, e.g. Visa, work. Call us! Was it "late?" Yes.\nA list item\n'
        "(See Dr. Who.) 3 days."
    )
    assert split_sentences(text) == [
        "Cards, e.g. Visa, work.", "Call us!", 'Was it "late?"', "Yes.", "A list item",
        "(See Dr. Who.)", "3 days.",
    ]


def test_split_is_linear_on_hostile_whitespace() -> None:
    import time

    hostile = ". " * 20_000 + "\n " * 20_000
    started = time.perf_counter()
    split_sentences(hostile)
    assert time.perf_counter() - started < 0.5


def test_candidates_skip_fragments_and_duplicates_and_close_list_items() -> None:
    passages = [
        "Yes. A dispute must be filed within 60 days. A dispute must be filed within 60 days.",
        "Fees\nYou may be charged a late fee by your bank",
    ]
    texts = [c.text for c in candidate_sentences(passages)]
    assert texts == ["A dispute must be filed within 60 days.",
                     "You may be charged a late fee by your bank."]


def _sentence(words: int, passage: int, position: int) -> Sentence:
    return Sentence(" ".join(["word"] * (words - 1) + ["end."]), passage, position)


def test_selection_respects_the_budget_and_reading_order() -> None:
    candidates = [_sentence(30, 1, 0), _sentence(40, 0, 2), _sentence(30, 0, 1),
                  _sentence(25, 2, 0), _sentence(10, 0, 0)]
    scores = np.array([0.9, 0.85, 0.8, 0.79, 0.2])  # the last is far below the best
    chosen = select_sentences(candidates, scores)
    assert len(chosen) <= MAX_SENTENCES
    assert sum(s.words for s in chosen) <= MAX_WORDS
    assert chosen == sorted(chosen, key=lambda s: (s.passage, s.position))
    assert candidates[4] not in chosen


def test_one_long_best_sentence_is_kept_whole_rather_than_cut() -> None:
    long = _sentence(MAX_WORDS + 20, 0, 0)
    assert select_sentences([long], np.array([0.7])) == [long]


def test_markers_number_the_passages_from_one() -> None:
    text = with_citation_markers([Sentence("First.", 0, 0), Sentence("Second.", 2, 1)])
    assert text == "First. [1] Second. [3]"
    assert [int(n) for n in re.findall(r"\[(\d+)\]", text)] == [1, 3]


def test_shortlist_keeps_the_sentences_sharing_the_most_words_in_reading_order() -> None:
    from core.assistant.compose import shortlist

    candidates = [
        Sentence("Weather today is sunny and warm.", 0, 0),
        Sentence("Debt collectors may not call you at work.", 0, 1),
        Sentence("A collector must stop calling when you ask in writing.", 1, 0),
        Sentence("Bananas are rich in potassium.", 2, 0),
    ]
    kept = shortlist(candidates, "Can a debt collector call me at work?", keep=2)
    assert kept == [candidates[1], candidates[2]]
