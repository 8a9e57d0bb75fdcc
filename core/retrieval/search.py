"""Search over the packs a caller may see: dense, BM25 or hybrid, with pack isolation.

:class:`SearchService` holds one :class:`~core.retrieval.searcher.PackSearcher` per loaded
pack. Every search names the pack ids the caller may see, and only those packs' indexes are
consulted, so no other pack's content can appear in a result whatever the query.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import PackNotFound, ValidationError
from core.retrieval.citation import Citation, rounded_score
from core.retrieval.fusion import DENSE_WEIGHT, RRF_K, convex_fusion, reciprocal_rank_fusion
from core.retrieval.intent_lift import lifted
from core.retrieval.lexical import query_terms
from core.retrieval.protocols import Embedder, VectorIndexBackend

if TYPE_CHECKING:
    from core.packs.store import InstalledPack
    from core.retrieval.searcher import PackSearcher
    from core.settings import Settings

MODES = ("dense", "bm25", "hybrid")
FUSIONS = ("convex", "rrf")
# Candidates taken from each side before fusion: deep enough that an item ranked well by
# one side and modestly by the other still surfaces, cheap on packs of 10^4-10^5 chunks.
FUSION_DEPTH = 100
# Recent (pack, query vector) dense results. The assistant's routing pass and its answer's
# search look up the same vector in the same packs: the second reads the first's result
# instead of searching again. 512 entries of 100 (score, id) pairs: about 600 KiB.
DENSE_MEMO_SIZE = 512


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk with its citation and scores.

    ``score`` is the ranking score of the mode searched: cosine similarity (dense), BM25
    (bm25) or the fused score (hybrid: 0..1 for the default convex fusion, the RRF score
    with ``fusion="rrf"``). ``dense_score`` / ``bm25_score`` are the raw side scores
    when that side retrieved the chunk, else ``None``.
    """

    pack_id: str
    document_id: str
    chunk_id: int
    title: str
    source_url: str | None
    text: str
    score: float
    mode: str
    position: int = 0
    dense_score: float | None = None
    bm25_score: float | None = None

    def citation(self) -> Citation:
        """What an answer cites: pack, document id, title, source URL, score."""
        return Citation(
            pack_id=self.pack_id,
            document_id=self.document_id,
            title=self.title,
            source_url=self.source_url,
            score=rounded_score(self.score),
        )


_Key = tuple[str, int]  # (pack_id, chunk_id)


class SearchService:
    """Searches loaded packs; the query is embedded once per search.

    A caller that already holds the query's vector (the assistant embeds each question once,
    in a batch with concurrent questions: :meth:`embed_queries`) passes it as ``query_vector``
    and no embedding happens here.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        settings: Settings | None = None,
        max_query_chars: int = 2000,
        max_top_k: int = 50,
        fusion: str = "convex",
        dense_weight: float = DENSE_WEIGHT,
        weights: tuple[float, float] = (1.0, 1.0),
        rrf_k: int = RRF_K,
    ) -> None:
        """Args:
        embedder: the embedder every loaded pack's index was built with.
        settings: when given, its ``max_query_chars`` and ``max_top_k`` limits apply.
        fusion: hybrid fusion method, ``convex`` (weighted normalised scores) or ``rrf``.
        dense_weight: weight of the dense side in convex fusion (BM25 gets the rest).
        weights: RRF weights of the (dense, bm25) rankings when ``fusion="rrf"``.
        rrf_k: the RRF constant.
        """
        if fusion not in FUSIONS:
            raise ValidationError(f"unknown fusion {fusion!r}; expected one of {FUSIONS}")
        self.embedder = embedder
        self.max_query_chars = settings.max_query_chars if settings else max_query_chars
        self.max_top_k = settings.max_top_k if settings else max_top_k
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.weights = weights
        self.rrf_k = rrf_k
        self._packs: dict[str, PackSearcher] = {}
        self._lock = threading.Lock()
        # (pack id, query vector bytes) -> (the searcher that answered, scores, ids).
        self._dense_memo: OrderedDict[
            tuple[str, bytes], tuple[weakref.ref[PackSearcher], np.ndarray, np.ndarray]
        ] = OrderedDict()
        self._memo_lock = threading.Lock()

    # --- packs -----------------------------------------------------------------------------
    def add_pack(self, pack_id: str, searcher: PackSearcher) -> None:
        """Make a loaded pack searchable (replaces an earlier version of the same pack)."""
        if searcher.meta.model_id != self.embedder.model_id:
            from core.errors import IndexMismatch

            raise IndexMismatch(
                f"pack {pack_id!r} was indexed with {searcher.meta.model_id!r}, this service "
                f"embeds queries with {self.embedder.model_id!r}"
            )
        with self._lock:
            self._packs = {**self._packs, pack_id: searcher}
            self._forget_dense()

    def load_installed_pack(
        self,
        installed: InstalledPack,
        backend: VectorIndexBackend,
        *,
        rebuild_dir: Path | None = None,
        verify: bool = True,
    ) -> PackSearcher:
        """Load an installed pack's index with this service's embedder and make it searchable.

        The one way an installed pack becomes searchable (the HTTP app and the CLI both call it).

        Args:
            installed: the pack, as :class:`~core.packs.store.PackStore` returned it.
            backend: the vector index backend that reads the pack's ``vectors.faiss``.
            rebuild_dir: if the index was made with another embedding model, build one here
                (outside the signed pack) and load it instead of failing.
            verify: re-check the index files against the signed manifest's checksums first;
                ``False`` when the caller has just verified the whole pack.
        Returns:
            The loaded searcher (already added).
        Raises:
            IndexMismatch: the index was made with another model and no ``rebuild_dir``.
            ChecksumMismatch, FileSetMismatch, PackFormatError: see
                :meth:`~core.retrieval.searcher.PackSearcher.load`.
        """
        from core.retrieval.searcher import PackSearcher

        searcher = PackSearcher.load(
            installed.root,
            installed.manifest,
            self.embedder,
            backend,
            rebuild_dir=rebuild_dir,
            verify=verify,
        )
        self.add_pack(installed.manifest.id, searcher)
        return searcher

    def remove_pack(self, pack_id: str) -> None:
        """Stop searching a pack (no error when it was not loaded)."""
        with self._lock:
            self._packs = {key: value for key, value in self._packs.items() if key != pack_id}
            self._forget_dense()

    def pack_ids(self) -> list[str]:
        return sorted(self._packs)

    # --- search ----------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        pack_ids: Collection[str],
        k: int = 5,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best chunks for ``query`` from the packs in ``pack_ids`` only.

        Args:
            query_vector: ``query`` already embedded (``(dim,)`` or ``(1, dim)``), to skip
                embedding it again.
        Raises:
            ValidationError: empty or too long query, ``k`` outside 1..max_top_k, unknown mode,
                a ``query_vector`` of the wrong shape.
            PackNotFound: a pack id that is not loaded.
        """
        return self.search_batch(
            [query], pack_ids=pack_ids, k=k, mode=mode, query_vectors=query_vector
        )[0]

    def search_batch(
        self,
        queries: Sequence[str],
        *,
        pack_ids: Collection[str],
        k: int = 5,
        mode: str = "hybrid",
        query_vectors: np.ndarray | None = None,
    ) -> list[list[SearchHit]]:
        """:meth:`search` for many queries, embedding them in one batch (throughput path).

        Args:
            query_vectors: the queries already embedded, one row per query (skips embedding).
        """
        for query in queries:
            self._check_query(query)
        vectors = None
        if query_vectors is not None:
            vectors = self._check_vectors(query_vectors, len(queries))
        self._check_k(k)
        if mode not in MODES:
            raise ValidationError(
                f"unknown search mode {mode!r}; expected one of {', '.join(MODES)}"
            )
        packs = self._packs_for(pack_ids)
        if not packs or not queries:
            return [[] for _ in queries]
        # Packs that rank by the kind of question asked need the query vector (not in bm25
        # mode) and candidates beyond the top k to promote from.
        lifts = {
            pack_id: searcher.intent_lift
            for pack_id, searcher in packs.items()
            if searcher.intent_lift is not None and mode != "bm25"
        }
        depth = max(k, FUSION_DEPTH) if mode == "hybrid" or lifts else k
        dense = None
        if mode != "bm25":
            if vectors is None:
                vectors = self.embedder.embed(list(queries), batch_size=min(64, len(queries)))
            dense = self._dense(packs, depth, vectors)
        lexical = self._lexical(queries, packs, depth) if mode != "dense" else None
        results = []
        for row in range(len(queries)):
            dense_row = dense[row] if dense is not None else []
            lexical_row = lexical[row] if lexical is not None else []
            ranked = self._ranked(mode, dense_row, lexical_row)
            if lifts:
                assert vectors is not None  # embedded above whenever a pack is lifted
                ranked = lifted(ranked, lifts, vectors[row])
            results.append(self._hits(packs, mode, ranked[:k], dense_row, lexical_row))
        return results

    def pack_scores(
        self,
        query: str,
        pack_ids: Collection[str],
        *,
        query_vector: np.ndarray | None = None,
    ) -> dict[str, float]:
        """Best dense (cosine) relevance of ``query`` per pack: scores only, never text.

        Used to route a question to a pack the caller may not own, so nothing of the pack's
        content is returned. Cosine similarity is comparable across packs (unlike BM25 or RRF
        scores, which depend on each pack's corpus and list lengths).

        Args:
            query_vector: ``query`` already embedded, to skip embedding it again.
        """
        self._check_query(query)
        packs = self._packs_for(pack_ids)
        if not packs:
            return {}
        if query_vector is not None:
            vector = self._check_vectors(query_vector, 1)
        else:
            vector = self.embedder.embed([query], batch_size=1)
        scores = {}
        for pack_id, searcher in packs.items():
            # As deep as an answer's search goes: it then reuses this pass (_dense_rows).
            top_scores, top_ids = self._dense_rows(pack_id, searcher, vector, FUSION_DEPTH)
            found = len(top_ids[0]) > 0 and top_ids[0, 0] >= 0
            scores[pack_id] = float(top_scores[0, 0]) if found else 0.0
        return scores

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Embed queries in one forward pass, for :meth:`search` / :meth:`pack_scores` later.

        Returns:
            float32 ``(len(queries), dim)``, unit rows: the ``query_vector`` of each query.
        Raises:
            ValidationError: an empty or too long query.
        """
        for query in queries:
            self._check_query(query)
        if not queries:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return self.embedder.embed(list(queries), batch_size=len(queries))

    # --- internals -------------------------------------------------------------------------
    def _check_vectors(self, vectors: np.ndarray, rows: int) -> np.ndarray:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.shape != (rows, self.embedder.dimension):
            raise ValidationError(
                f"query vectors have shape {tuple(np.shape(vectors))}; expected "
                f"({rows}, {self.embedder.dimension}) for {rows} queries"
            )
        return np.ascontiguousarray(matrix)

    def check_query(self, query: str) -> None:
        """Refuse a query :meth:`search` would refuse, before any work is done for it.

        Raises:
            ValidationError: the query is empty (or only spaces) or longer than
                ``max_query_chars``.
        """
        self._check_query(query)

    def _check_query(self, query: str) -> None:
        if not isinstance(query, str) or not query.strip():
            raise ValidationError("the query is empty; ask a question with some words in it")
        if len(query) > self.max_query_chars:
            raise ValidationError(
                f"the query is {len(query)} characters long; the limit is {self.max_query_chars}"
            )

    def _check_k(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.max_top_k:
            raise ValidationError(f"k must be an integer in 1..{self.max_top_k}, got {k!r}")

    def _packs_for(self, pack_ids: Collection[str]) -> dict[str, PackSearcher]:
        if isinstance(pack_ids, str):  # a lone id would otherwise be read as its characters
            pack_ids = [pack_ids]
        loaded = self._packs  # one consistent snapshot (add/remove swap the dict)
        unknown = sorted(set(pack_ids) - set(loaded))
        if unknown:
            raise PackNotFound(
                f"pack {unknown[0]!r} is not installed or not loaded; loaded packs: "
                f"{', '.join(sorted(loaded)) or '(none)'}"
            )
        return {pack_id: loaded[pack_id] for pack_id in sorted(set(pack_ids))}

    def _dense(
        self, packs: dict[str, PackSearcher], depth: int, vectors: np.ndarray
    ) -> list[list[tuple[_Key, float]]]:
        per_pack = [
            (pack_id, *self._dense_rows(pack_id, searcher, vectors, depth))
            for pack_id, searcher in packs.items()
        ]
        # Cosine scores are on one scale across packs, so one sort merges the packs.
        return [
            _merged([(pack_id, scores[row], ids[row]) for pack_id, scores, ids in per_pack], depth)
            for row in range(len(vectors))
        ]

    def _dense_rows(
        self, pack_id: str, searcher: PackSearcher, vectors: np.ndarray, depth: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``searcher.dense(vectors, depth)``; for one query vector, from the memo of recent
        results when an equally deep or deeper search of that vector in that pack is there."""
        if len(vectors) != 1:
            return searcher.dense(vectors, depth)
        wanted = min(depth, len(searcher))
        key = (pack_id, vectors.tobytes())
        with self._memo_lock:
            found = self._dense_memo.get(key)
            # The same searcher object: a reloaded pack version never reads the old one's.
            if found is not None and found[0]() is searcher and found[2].shape[1] >= wanted:
                self._dense_memo.move_to_end(key)
                return found[1][:, :wanted], found[2][:, :wanted]
        scores, ids = searcher.dense(vectors, depth)
        with self._memo_lock:
            self._dense_memo[key] = (weakref.ref(searcher), scores, ids)
            while len(self._dense_memo) > DENSE_MEMO_SIZE:
                self._dense_memo.popitem(last=False)
        return scores, ids

    def _forget_dense(self) -> None:
        """Drop remembered dense results: a pack was added, replaced or removed."""
        with self._memo_lock:
            self._dense_memo.clear()

    def _lexical(
        self, queries: Sequence[str], packs: dict[str, PackSearcher], depth: int
    ) -> list[list[tuple[_Key, float]]]:
        rows = []
        for query in queries:
            terms = query_terms(query)  # once per query, not once per pack
            per_pack = [
                (pack_id, *searcher.bm25_terms(terms, depth)) for pack_id, searcher in packs.items()
            ]
            rows.append(_merged(per_pack, depth))
        return rows

    def _ranked(
        self, mode: str, dense: list[tuple[_Key, float]], lexical: list[tuple[_Key, float]]
    ) -> list[tuple[_Key, float]]:
        """Every candidate of the mode, best first: one side's list, or both fused."""
        if mode == "dense":
            return dense
        if mode == "bm25":
            return lexical
        if self.fusion == "convex":
            return convex_fusion(dense, lexical, dense_weight=self.dense_weight)
        return reciprocal_rank_fusion(
            [[key for key, _ in dense], [key for key, _ in lexical]],
            weights=self.weights,
            k=self.rrf_k,
        )

    def _hits(
        self,
        packs: dict[str, PackSearcher],
        mode: str,
        ranked: list[tuple[_Key, float]],
        dense: list[tuple[_Key, float]],
        lexical: list[tuple[_Key, float]],
    ) -> list[SearchHit]:
        dense_scores = dict(dense)
        lexical_scores = dict(lexical)
        hits = []
        for (pack_id, chunk_id), score in ranked:
            chunk = packs[pack_id].chunks[chunk_id]
            hits.append(
                SearchHit(
                    pack_id=pack_id,
                    document_id=chunk.document_id,
                    chunk_id=chunk_id,
                    title=chunk.title,
                    source_url=chunk.source_url,
                    text=chunk.text,
                    score=float(score),
                    mode=mode,
                    position=chunk.position,
                    dense_score=dense_scores.get((pack_id, chunk_id)),
                    bm25_score=lexical_scores.get((pack_id, chunk_id)),
                )
            )
        return hits


def _merged(
    per_pack: Sequence[tuple[str, np.ndarray, np.ndarray]], depth: int
) -> list[tuple[_Key, float]]:
    """The ``depth`` best ``((pack_id, chunk_id), score)`` of several packs' ranked lists.

    Ties keep pack order, then rank (a stable sort over the lists concatenated in that order):
    the same order as sorting the Python pairs, for a tenth of the cost, since only the
    ``depth`` survivors become Python objects.
    """
    pieces = [(pack_id, scores, ids) for pack_id, scores, ids in per_pack if len(ids)]
    if not pieces:
        return []
    scores = np.concatenate([scores for _, scores, _ in pieces])
    ids = np.concatenate([ids for _, _, ids in pieces]).astype(np.int64, copy=False)
    owners = np.concatenate(
        [np.full(len(piece_ids), index) for index, (_, _, piece_ids) in enumerate(pieces)]
    )
    valid = ids >= 0  # FAISS pads a short result with -1
    scores, ids, owners = scores[valid], ids[valid], owners[valid]
    order = np.argsort(-scores, kind="stable")[:depth]
    names = [pack_id for pack_id, _, _ in pieces]
    return [
        ((names[owner], chunk), score)
        for owner, chunk, score in zip(
            owners[order].tolist(), ids[order].tolist(), scores[order].tolist(), strict=True
        )
    ]
