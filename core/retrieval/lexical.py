"""Lexical (BM25) retrieval with ``bm25s``: English stop words removed, Snowball stemming."""

from __future__ import annotations

import functools
import logging
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PackFormatError

LEXICAL_DIR = "bm25"
# Stemming folds "mortgages"/"mortgage" and "treatments"/"treatment": +BM25 recall on every pack.
STEMMER_LANGUAGE = "english"
STOPWORDS = "en"
# bm25s.tokenize's default split (scikit-learn's CountVectorizer pattern): words of 2+ characters.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(STEMMER_LANGUAGE)


def analyze(texts: list[str], stemmer: Any) -> list[list[str]]:
    """Lower-case, split into words, drop English stop words, stem (how chunks are indexed)."""
    import bm25s

    return bm25s.tokenize(  # type: ignore[no-any-return]
        texts, stopwords=STOPWORDS, stemmer=stemmer, return_ids=False, show_progress=False
    )


@functools.cache
def _stopword_set() -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords(STOPWORDS))


_local = threading.local()  # a PyStemmer stemmer must not be shared between threads


def query_terms(query: str) -> list[str]:
    """:func:`analyze` of one query, in about a tenth of its time.

    ``bm25s.tokenize`` builds a vocabulary and three progress bars per call (~0.3 ms), and a
    search ran it once per pack; this is the same analysis (same pattern, stop words and
    stemmer, terms in query order) for one text, computed once per search.
    """
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = _stemmer()
    stop = _stopword_set()
    words = [word for word in TOKEN_PATTERN.findall(query.lower()) if word not in stop]
    return stemmer.stemWords(words) if words else []  # type: ignore[no-any-return]


class Bm25Index:
    """A BM25 index over a pack's chunks (row ``i`` is chunk id ``i``)."""

    def __init__(self, retriever: Any, n_chunks: int) -> None:
        self._retriever = retriever
        self.n_chunks = n_chunks

    @classmethod
    def build(cls, texts: list[str]) -> Bm25Index:
        """Index ``texts`` (one per chunk, in chunk-id order)."""
        import bm25s

        corpus_tokens = analyze(texts, _stemmer())
        retriever = bm25s.BM25()
        # An empty token list is allowed (a chunk of only stop words simply never matches).
        retriever.index(corpus_tokens, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, directory: Path) -> None:
        """Write the index files into ``directory`` (created)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(directory))

    @classmethod
    def load(cls, directory: Path, n_chunks: int) -> Bm25Index:
        """Read an index written by :meth:`save`.

        Raises:
            PackFormatError: files missing or unreadable.
        """
        import bm25s

        if not directory.is_dir():
            raise PackFormatError(f"BM25 index directory {directory} does not exist")
        try:
            # bm25s logs a progress line per file; keep loads quiet.
            logging.getLogger("bm25s").setLevel(logging.WARNING)
            retriever = bm25s.BM25.load(str(directory), mmap=False)
        except Exception as exc:  # bm25s raises json/numpy/OS errors alike for bad files
            raise PackFormatError(f"BM25 index in {directory} is unreadable: {exc}") from exc
        return cls(retriever, n_chunks)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` chunks for ``query`` with a positive BM25 score.

        Returns:
            ``(scores, chunk_ids)``, best first; empty when no query term is in the vocabulary.
        """
        return self.search_terms(query_terms(query), k)

    def search_terms(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for a query already analysed with :func:`query_terms` (a search
        over several packs analyses its query once)."""
        if not tokens:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores = np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)
        k = min(k, scores.shape[0])
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return scores[top], top.astype(np.int64)
