"""Extractive answers: the few sentences of the retrieved passages that answer the question.

A support answer should be short and checkable: at most :data:`MAX_SENTENCES` whole sentences
and about :data:`MAX_WORDS` words, each followed by the marker of the passage it came from
(``[n]`` is ``citations[n-1]``). Sentences are scored by cosine similarity to the question with
the query embedder the server already runs, so no second model is loaded.

Pure functions over plain data: the assistant embeds, this module splits, selects and formats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_SENTENCES = 3
MAX_WORDS = 90
PASSAGES_SCORED = 3  # the best passages are where the answer is; further ones add noise
SENTENCES_PER_PASSAGE = 8  # bounds the sentences embedded per question
MIN_SENTENCE_WORDS = 4  # shorter fragments (headings, "Yes.") say nothing on their own
MAX_SENTENCE_CHARS = 600  # one embedding input; longer "sentences" are lists or tables
RELATIVE_FLOOR = 0.15  # a sentence scoring this far below the best one is off the point
# Sentences scored with the embedder per answer. Each costs about 4 ms of CPU on the 2-core
# machine (measured: 1 sentence 10 ms, 6 26 ms, 24 98 ms), so a cheap lexical shortlist comes
# first and the embedder re-ranks only these.
EMBEDDED_SENTENCES = 5
_WORD = re.compile(r"[a-z0-9]{3,}")
_STOPWORDS = frozenset(
    "the and for are but not you your with this that from have has had was were will can "
    "how what when where which who why does did its our they them their there then than "
    "into about would could should may might must been being any all some more most".split()
)

# A sentence ends at . ! or ? (or one of them and a closing quote or bracket, straight or
# curly) followed by space and an upper-case letter, digit, opening quote or bracket; or at a
# line break. Linear: no nested quantifiers.
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"')\]\u201d\u2019]))\s+(?=[A-Z0-9\"'(\[\u201c\u2018])|\n\s*"
)
# How a whole sentence can end; a chunk's last piece ending otherwise was cut by its window.
_CLOSING = frozenset(".!?\"')\u201d\u2019")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|No|U\.S|Inc|Corp|St)\.$")


@dataclass(frozen=True, slots=True)
class Sentence:
    """A whole sentence of the ``passage``-th passage, at ``position`` within it."""

    text: str
    passage: int
    position: int

    @property
    def words(self) -> int:
        return len(self.text.split())


def split_sentences(text: str) -> list[str]:
    """Whole sentences of ``text``, in order (common abbreviations do not end one)."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start : match.start()].strip()
        if piece and _ABBREVIATION.search(piece) and "\n" not in match.group(0):
            continue  # "e.g. Visa" does not end the sentence: keep extending it
        if piece:
            pieces.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def whole_sentences(passage: str, *, opens_document: bool = True) -> list[str]:
    """The sentences of a retrieved passage that are whole.

    A passage is a chunk, a window of model tokens (core/retrieval/chunking.py) that starts and
    stops wherever its tokens do. A chunk after its document's first starts inside a sentence
    (856 of the finance pack's 887 such chunks), so its first piece is the tail of one; and a
    chunk that stops before its document's end stops inside one, so its last piece, lacking a
    closing mark, was cut (a list item ending a document looks the same and is lost with it:
    18 of 1,064 finance documents). Either would read as a fragment, or as a sentence cut short
    with a full stop added. A passage that is one piece is kept as it is.
    """
    pieces = split_sentences(passage)
    if len(pieces) > 1 and not opens_document:
        pieces = pieces[1:]
    if len(pieces) > 1 and pieces[-1][-1] not in _CLOSING:
        pieces = pieces[:-1]
    return pieces


def candidate_sentences(
    passages: Sequence[str], opens_document: Sequence[bool] = ()
) -> list[Sentence]:
    """The sentences worth scoring: from the best passages, whole, neither tiny nor huge.

    Args:
        passages: the retrieved passages' texts, best first.
        opens_document: per passage, whether it is its document's first chunk (a search
            hit's ``position == 0``); passages beyond this sequence are taken to open theirs.
    """
    seen: set[str] = set()
    candidates: list[Sentence] = []
    for passage_index, passage in enumerate(passages[:PASSAGES_SCORED]):
        kept = 0
        opens = opens_document[passage_index] if passage_index < len(opens_document) else True
        sentences = whole_sentences(passage, opens_document=opens)
        for position, text in enumerate(sentences):
            if kept == SENTENCES_PER_PASSAGE:
                break
            # A short fragment inside a passage is a heading or an aside; a passage that is
            # one short sentence is a whole answer ("Statutory Instruments." defines "SI").
            too_short = len(text.split()) < MIN_SENTENCE_WORDS and len(sentences) > 1
            if too_short or len(text) > MAX_SENTENCE_CHARS:
                continue
            if text[-1] not in _CLOSING:
                text += "."  # a list item or heading line: close it rather than run on
            if text in seen:
                continue
            seen.add(text)
            candidates.append(Sentence(text, passage_index, position))
            kept += 1
    return candidates


def content_words(text: str) -> frozenset[str]:
    """Lower-case words of three letters or more, stop words out, a plural ``s`` dropped."""
    return frozenset(
        word[:-1] if word.endswith("s") and len(word) > 3 else word
        for word in _WORD.findall(text.lower())
        if word not in _STOPWORDS
    )


def shortlist(
    candidates: Sequence[Sentence], question: str, keep: int = EMBEDDED_SENTENCES
) -> list[Sentence]:
    """The ``keep`` candidates sharing the most words with the question (ties: the better
    passage, then the earlier sentence), in reading order: what the embedder re-ranks.

    The top passage's best candidate is always kept: retrieval ranked that passage first on
    its title and text together, and a definition rarely repeats the term it defines ("The
    cases to be dealt with on any given day by a judge." under the title "judge's list").
    """
    asked = content_words(question)
    ranked = sorted(
        candidates,
        key=lambda c: (-len(asked & content_words(c.text)), c.passage, c.position),
    )
    kept = ranked[:keep]
    lead = next((c for c in ranked if c.passage == 0), None)
    if keep and lead is not None and lead not in kept:
        kept[-1] = lead
    return sorted(kept, key=lambda c: (c.passage, c.position))


def select_sentences(
    candidates: Sequence[Sentence], scores: np.ndarray
) -> list[Sentence]:
    """The best sentences within the budget, in reading order (passage, then position).

    Args:
        candidates: from :func:`candidate_sentences`.
        scores: one similarity to the question per candidate.
    """
    if not candidates:
        return []
    order = sorted(range(len(candidates)), key=lambda i: float(scores[i]), reverse=True)
    best = float(scores[order[0]])
    chosen: list[int] = []
    words = 0
    # The top passage leads with its best sentence that fits: retrieval ranked it first with
    # its title (which one sentence's similarity cannot see), so it is the likeliest answer.
    lead = next((i for i in order if candidates[i].passage == 0
                 and candidates[i].words <= MAX_WORDS), None)
    if lead is not None:
        chosen.append(lead)
        words += candidates[lead].words
    for index in order:
        sentence = candidates[index]
        if index in chosen:
            continue
        if chosen and float(scores[index]) < best - RELATIVE_FLOOR:
            break
        if len(chosen) == MAX_SENTENCES:
            break
        if words + sentence.words > MAX_WORDS:
            continue
        chosen.append(index)
        words += sentence.words
    if not chosen:  # every sentence is over the budget alone: the best one, still whole
        chosen = [order[0]]
    return sorted(
        (candidates[i] for i in chosen), key=lambda s: (s.passage, s.position)
    )


def with_citation_markers(sentences: Sequence[Sentence]) -> str:
    """``"First sentence. [1] Second one. [2]"``: ``[n]`` is the n-th passage (citation)."""
    return " ".join(f"{sentence.text} [{sentence.passage + 1}]" for sentence in sentences)


__all__ = [
    "MAX_SENTENCES",
    "MAX_WORDS",
    "Sentence",
    "candidate_sentences",
    "content_words",
    "select_sentences",
    "shortlist",
    "split_sentences",
    "whole_sentences",
    "with_citation_markers",
]
