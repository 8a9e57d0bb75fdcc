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
    whole_sentences,
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


def test_split_ends_a_sentence_at_curly_quotes() -> None:
    text = "It is called a \u201cGreen Card.\u201d The card is proof of status."
    assert split_sentences(text) == [
        "It is called a \u201cGreen Card.\u201d", "The card is proof of status.",
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
        "Fees\nYou may be charged a late fee by your bank\nAsk the bank to waive it.",
    ]
    texts = [c.text for c in candidate_sentences(passages)]
    assert texts == ["A dispute must be filed within 60 days.",
                     "You may be charged a late fee by your bank.", "Ask the bank to waive it."]


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


def test_the_top_passage_leads_even_when_its_sentence_scores_lower() -> None:
    # A glossary definition rarely repeats its term: retrieval ranked the passage first on
    # its title, so its best sentence answers even though another passage's says "judge" more.
    candidates = [
        Sentence("The cases to be dealt with on any given day by a judge.", 0, 0),
        Sentence("A judge decides cases in court and applies the law.", 1, 0),
        Sentence("Judges sit in the District Court and the High Court.", 2, 0),
    ]
    chosen = select_sentences(candidates, np.array([0.40, 0.62, 0.58]))
    assert chosen[0] == candidates[0]
    assert with_citation_markers(chosen).startswith(candidates[0].text + " [1]")


def test_the_top_passage_leads_with_its_own_best_sentence_that_fits() -> None:
    too_long = _sentence(MAX_WORDS + 5, 0, 0)
    fits = _sentence(12, 0, 1)
    other = _sentence(12, 1, 0)
    chosen = select_sentences([too_long, fits, other], np.array([0.9, 0.3, 0.8]))
    assert fits in chosen and too_long not in chosen
    assert sum(s.words for s in chosen) <= MAX_WORDS


def test_shortlist_keeps_the_top_passage_even_when_others_share_more_words() -> None:
    from core.assistant.compose import shortlist

    candidates = [
        Sentence("The cases to be dealt with on any given day.", 0, 0),
        Sentence("A judge's list of cases in law.", 1, 0),
        Sentence("Judges list the law of cases.", 2, 0),
    ]
    kept = shortlist(candidates, 'What does "judge\'s list" mean in law?', keep=2)
    assert candidates[0] in kept and len(kept) == 2


def test_a_passage_that_is_one_short_sentence_is_a_whole_answer() -> None:
    # "Statutory Instruments." defines "SI"; inside a longer passage it would be a heading.
    assert [c.text for c in candidate_sentences(["Statutory Instruments."])] == [
        "Statutory Instruments."
    ]
    assert [c.text for c in candidate_sentences(["Fees.\nA fee applies to late payments."])] == [
        "A fee applies to late payments."
    ]


# A chunk is a window of tokens: one that is not its document's first starts inside a
# sentence, and one that stops before its document's end stops inside one.
MIDDLE_CHUNK = (
    "charged new customers, the card issuer may consider it. Your card issuer generally "
    "cannot increase the rate on your existing balance. It can increase the rate for new"
)


def test_a_chunk_inside_its_document_loses_the_pieces_its_window_cut() -> None:
    assert whole_sentences(MIDDLE_CHUNK, opens_document=False) == [
        "Your card issuer generally cannot increase the rate on your existing balance."
    ]


def test_a_documents_first_chunk_keeps_its_first_sentence() -> None:
    first_chunk = "Card issuers send offers. You can opt out. To opt out permanently, go"
    assert whole_sentences(first_chunk) == ["Card issuers send offers.", "You can opt out."]


def test_a_passage_of_one_piece_is_kept_even_inside_its_document() -> None:
    assert whole_sentences("the rest of a long clause", opens_document=False) == [
        "the rest of a long clause"
    ]


def test_candidates_never_offer_a_cut_sentence_as_whole() -> None:
    # Before: "charged new customers, ..." led a composed answer, and "It can increase the
    # rate for new." was offered with a full stop the document never had.
    texts = [c.text for c in candidate_sentences([MIDDLE_CHUNK, MIDDLE_CHUNK + " ones."],
                                                 opens_document=[False, True])]
    assert texts == [
        "Your card issuer generally cannot increase the rate on your existing balance.",
        "charged new customers, the card issuer may consider it.",
        "It can increase the rate for new ones.",
    ]
