"""MicroBatcher: every caller gets its own result, batches merge within their bounds, errors stay
inside their batch, off mode calls directly, and close finishes what was submitted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from core.assistant.answer import Answer
from core.assistant.assistant import Assistant
from core.batching import MicroBatcher
from core.errors import BatcherClosed, ConfigError
from core.packs.manifest import EmbeddingModelRef, Manifest, Pricing
from core.retrieval.search import SearchHit


class Recorder:
    """A fake batch function: ``item -> f"r{item}"``, recording every batch it was called with.

    ``delay`` simulates a forward pass (the GIL is released while it sleeps, like torch's)."""

    def __init__(self, delay: float = 0.0, fail: Callable[[list[int]], bool] | None = None) -> None:
        self.delay = delay
        self.fail = fail
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[str]:
        with self.lock:
            self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None and self.fail(items):
            raise RuntimeError(f"boom on {items}")
        return [f"r{item}" for item in items]

    @property
    def sizes(self) -> list[int]:
        return [len(batch) for batch in self.batches]


async def _gather(batcher: MicroBatcher[int, str], items: list[int]) -> list[object]:
    return await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)


def test_hundreds_of_concurrent_callers_each_get_their_own_result() -> None:
    fn = Recorder(delay=0.002)
    batcher = MicroBatcher(fn, max_batch_size=16, max_wait_ms=2)
    try:
        results = asyncio.run(_gather(batcher, list(range(500))))
    finally:
        batcher.close()
    assert results == [f"r{i}" for i in range(500)]
    # Every item was computed exactly once, and the calls really were batched.
    assert sorted(i for batch in fn.batches for i in batch) == list(range(500))
    assert max(fn.sizes) == 16
    assert len(fn.batches) < 500 / 4
    assert batcher.stats().items == 500


def test_results_stay_in_order_when_callers_come_from_many_threads() -> None:
    fn = Recorder(delay=0.001)
    batcher = MicroBatcher(fn, max_batch_size=8, max_wait_ms=1)
    results: dict[int, str] = {}

    def worker(start: int) -> None:
        for i in range(start, start + 25):
            results[i] = batcher.call(i)

    threads = [threading.Thread(target=worker, args=(n * 25,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert results == {i: f"r{i}" for i in range(200)}
    assert max(fn.sizes) > 1


def test_max_batch_size_is_never_exceeded() -> None:
    fn = Recorder(delay=0.005)
    batcher = MicroBatcher(fn, max_batch_size=5, max_wait_ms=20)
    try:
        asyncio.run(_gather(batcher, list(range(103))))
    finally:
        batcher.close()
    assert max(fn.sizes) == 5
    assert sum(fn.sizes) == 103


def test_a_lone_request_waits_at_most_max_wait() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch_size=32, max_wait_ms=30)

    async def one() -> tuple[str, float]:
        start = time.perf_counter()
        result = await batcher.submit(7)
        return result, time.perf_counter() - start

    try:
        result, elapsed = asyncio.run(one())
    finally:
        batcher.close()
    assert result == "r7"
    assert fn.sizes == [1]
    # Waited for company (about 30 ms), but not much longer; generous for a loaded CI box.
    assert 0.025 <= elapsed < 1.0


def test_after_a_lone_batch_the_next_lone_request_does_not_wait() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch_size=32, max_wait_ms=300)

    async def sequential() -> list[float]:
        times = []
        for item in range(3):
            start = time.perf_counter()
            assert await batcher.submit(item) == f"r{item}"
            times.append(time.perf_counter() - start)
        return times

    try:
        first, second, third = asyncio.run(sequential())
    finally:
        batcher.close()
    assert fn.sizes == [1, 1, 1]
    assert first >= 0.28  # nothing known yet: it waited for company
    assert second < 0.2 and third < 0.2  # one client at a time pays no batching wait


def test_items_arriving_within_the_wait_share_one_batch() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch_size=32, max_wait_ms=200)

    async def staggered() -> list[str]:
        async def later(i: int) -> str:
            await asyncio.sleep(0.01 * i)
            return await batcher.submit(i)

        return list(await asyncio.gather(*(later(i) for i in range(5))))

    try:
        assert asyncio.run(staggered()) == [f"r{i}" for i in range(5)]
    finally:
        batcher.close()
    assert fn.sizes == [5]


def test_the_batch_function_runs_off_the_event_loop_thread() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, name="probe")

    async def run() -> str:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        fn.delay = 0.1  # a slow "forward pass": the loop must keep running meanwhile
        task = asyncio.create_task(ticker())
        assert await batcher.submit(1) == "r1"
        task.cancel()
        assert ticks > 10
        return threading.current_thread().name

    try:
        loop_thread = asyncio.run(run())
    finally:
        batcher.close()
    assert fn.threads == {"packdesk-probe"}
    assert loop_thread not in fn.threads


def test_a_failing_batch_fails_only_its_own_callers_and_the_worker_goes_on() -> None:
    broken = threading.Event()
    broken.set()
    fn = Recorder(delay=0.002, fail=lambda items: broken.is_set())
    batcher = MicroBatcher(fn, max_batch_size=8, max_wait_ms=50)

    async def run() -> tuple[list[object], list[object]]:
        first = await _gather(batcher, list(range(6)))
        broken.clear()
        second = await _gather(batcher, list(range(6, 30)))
        return first, second

    try:
        first, second = asyncio.run(run())
    finally:
        batcher.close()
    assert all(isinstance(r, RuntimeError) for r in first)
    assert second == [f"r{i}" for i in range(6, 30)]
    assert batcher.stats().failed_batches >= 1


def test_a_bad_item_fails_only_its_own_caller_in_a_shared_batch() -> None:
    fn = Recorder(fail=lambda items: 13 in items)
    batcher = MicroBatcher(fn, max_batch_size=32, max_wait_ms=50)
    try:
        results = asyncio.run(_gather(batcher, list(range(20))))
    finally:
        batcher.close()
    assert isinstance(results[13], RuntimeError)
    assert "13" in str(results[13])
    assert [r for i, r in enumerate(results) if i != 13] == [f"r{i}" for i in range(20) if i != 13]
    assert fn.sizes[0] == 20  # they did share a batch before the item-by-item retry


def test_a_wrong_result_count_is_an_error_for_the_callers_not_a_hang() -> None:
    batcher: MicroBatcher[int, str] = MicroBatcher(lambda items: [], max_wait_ms=50)
    try:
        results = asyncio.run(_gather(batcher, [1, 2, 3]))
    finally:
        batcher.close()
    assert [type(r) for r in results] == [ValueError, ValueError, ValueError]


def test_disabled_mode_calls_the_function_directly_one_item_at_a_time() -> None:
    fn = Recorder(delay=0.002)
    batcher = MicroBatcher(fn, enabled=False)
    assert batcher._threads == []
    results = asyncio.run(_gather(batcher, list(range(40))))
    assert results == [f"r{i}" for i in range(40)]
    assert fn.sizes == [1] * 40
    assert batcher.call(41) == "r41"
    batcher.close()
    with pytest.raises(BatcherClosed):
        asyncio.run(batcher.submit(1))


def test_several_workers_share_the_queue_and_run_passes_at_once() -> None:
    """Two workers: passes overlap (the GIL is free while a pass sleeps, as in ONNX Runtime),
    every caller still gets its own result, and close stops both."""
    fn = Recorder(delay=0.02)
    batcher = MicroBatcher(fn, max_batch_size=1, max_wait_ms=0, workers=2, name="pair")
    started = time.monotonic()
    try:
        results = asyncio.run(_gather(batcher, list(range(20))))
    finally:
        batcher.close()
    elapsed = time.monotonic() - started
    assert results == [f"r{i}" for i in range(20)]
    assert fn.threads == {"packdesk-pair-0", "packdesk-pair-1"}
    assert elapsed < 20 * 0.02 * 0.8  # one worker would need 0.4 s of passes
    assert not any(thread.is_alive() for thread in batcher._threads)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_worker_count_must_be_a_positive_integer(workers: object) -> None:
    with pytest.raises(ConfigError, match="workers"):
        MicroBatcher(Recorder(), workers=workers)  # type: ignore[arg-type]


def test_close_finishes_submitted_items_then_refuses_new_ones() -> None:
    fn = Recorder(delay=0.02)
    batcher = MicroBatcher(fn, max_batch_size=4, max_wait_ms=1)

    async def run() -> list[object]:
        tasks = [asyncio.ensure_future(batcher.submit(i)) for i in range(12)]
        await asyncio.sleep(0)  # every submit has queued its item
        await batcher.aclose()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    assert asyncio.run(run()) == [f"r{i}" for i in range(12)]
    assert batcher._threads and not any(t.is_alive() for t in batcher._threads)
    with pytest.raises(BatcherClosed, match="closed"):
        asyncio.run(batcher.submit(99))
    with pytest.raises(BatcherClosed):
        batcher.call(99)
    batcher.close()  # idempotent


def test_a_cancelled_caller_is_skipped() -> None:
    fn = Recorder(delay=0.05)
    batcher = MicroBatcher(fn, max_batch_size=1, max_wait_ms=0)

    async def run() -> str:
        busy = asyncio.ensure_future(batcher.submit(1))  # occupies the worker
        await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)
        gone.cancel()
        await busy
        return await batcher.submit(3)

    try:
        assert asyncio.run(run()) == "r3"
    finally:
        batcher.close()
    assert [2] not in fn.batches


def test_a_batch_wakes_its_event_loop_once() -> None:
    """Results reach the loop in one hop per batch: each wake-up from the worker costs it the
    GIL again, so one per item made the worker wait behind the request threads."""
    fn = Recorder(delay=0.02)
    batcher = MicroBatcher(fn, max_batch_size=16, max_wait_ms=50)
    wakeups: list[object] = []

    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread().name == "packdesk-batcher":
                wakeups.append(callback)
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        return list(await asyncio.gather(*(batcher.submit(i) for i in range(8))))

    try:
        assert asyncio.run(run()) == [f"r{i}" for i in range(8)]
    finally:
        batcher.close()
    assert fn.batches == [list(range(8))]
    assert len(wakeups) == 1


def test_a_failure_in_a_shared_batch_reaches_each_caller_in_one_hop() -> None:
    fn = Recorder(fail=lambda items: 3 in items)
    batcher = MicroBatcher(fn, max_batch_size=8, max_wait_ms=50)

    async def run() -> list[object]:
        return list(
            await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
        )

    try:
        outcomes = asyncio.run(run())
    finally:
        batcher.close()
    assert [o for i, o in enumerate(outcomes) if i != 3] == ["r0", "r1", "r2", "r4"]
    assert isinstance(outcomes[3], RuntimeError) and "boom on [3]" in str(outcomes[3])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be an integer >= 1, got 0"),
        ({"max_batch_size": 2.5}, "got 2.5"),
        ({"max_wait_ms": -1.0}, "max_wait_ms must be >= 0, got -1.0"),
        ({"max_wait_ms": float("nan")}, "got nan"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        MicroBatcher(Recorder(), **kwargs)  # type: ignore[arg-type]


# --- the /v1/ask path: one embedding per question, shared by routing and retrieval ------------
class CountingSearch:
    """A search service double that records what the assistant asks of it."""

    def __init__(self) -> None:
        self.embedded: list[list[str]] = []
        self.vectors_seen: list[object] = []

    def embed_queries(self, queries: list[str]) -> list[list[float]]:
        self.embedded.append(list(queries))
        return [[float(len(q)), 1.0] for q in queries]

    def pack_scores(self, query: str, pack_ids: object, *, query_vector: object = None) -> dict:
        self.vectors_seen.append(query_vector)
        return {"finance": 0.9}

    def search(self, query: str, *, pack_ids: object, k: int, mode: str,
               query_vector: object = None) -> list:
        self.vectors_seen.append(query_vector)
        return [SearchHit(pack_id="finance", document_id="d1", chunk_id=0, title="Fees",
                          source_url=None, text="Overdraft fees are ...", score=0.9, mode=mode)]


def _finance_manifest() -> Manifest:
    return Manifest(id="finance", name="Finance", version="1.0.0", domain="finance",
                    publisher="tests", license="CC0-1.0", attribution="tests",
                    pricing=Pricing(model="free"),
                    embedding_model=EmbeddingModelRef(id="m", dimension=2))


def _assistant(search: CountingSearch, **kwargs: Any) -> Assistant:
    async def finance(account_id: str) -> set[str]:
        return {"finance"}

    return Assistant(packs={"finance": _finance_manifest()}, search=search,
                     active_packs=finance, owned_packs=finance, **kwargs)


def test_the_assistant_embeds_a_question_once_for_routing_and_retrieval() -> None:
    search = CountingSearch()
    answer = asyncio.run(_assistant(search).ask("acct", "What are overdraft fees?"))
    assert answer.citations[0].document_id == "d1"
    embedded = [text for batch in search.embedded for text in batch]
    assert embedded.count("What are overdraft fees?") == 1
    # the only other text embedded is the passage's sentence, scored for the brief answer
    assert set(embedded) - {"What are overdraft fees?"} <= {"Overdraft fees are ..."}
    assert search.vectors_seen == [[24.0, 1.0], [24.0, 1.0]]  # pack_scores, then search


def test_the_assistant_uses_the_batchers_it_is_given() -> None:
    search = CountingSearch()
    embed = MicroBatcher(search.embed_queries, max_wait_ms=20, name="embed")

    class Label:
        def __init__(self, text: str) -> None:
            self.label, self.pack_id, self.confidence = "out_of_scope", None, 0.1

    classify = MicroBatcher(lambda texts: [Label(t) for t in texts], max_wait_ms=20)
    assistant = _assistant(search, classify=classify.submit, embed_query=embed.submit)
    questions = [f"What are overdraft fees number {i}?" for i in range(12)]

    async def run() -> list[Answer]:
        return list(await asyncio.gather(*(assistant.ask("acct", q) for q in questions)))

    try:
        answers = asyncio.run(run())
    finally:
        embed.close()
        classify.close()
    assert all(a.citations for a in answers)
    embedded = [text for batch in search.embedded for text in batch]
    assert sorted(t for t in embedded if t in questions) == sorted(questions)  # each once
    assert set(embedded) - set(questions) <= {"Overdraft fees are ..."}  # the brief answers'
    assert len(search.embedded) < len(questions)  # merged into shared forward passes
    assert classify.stats().items == 12 and classify.stats().batches < 12


# --- SearchService with precomputed query vectors (the real model, FAISS and bm25s) ----------
@pytest.fixture(scope="module")
def real_search(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from core.retrieval.search import SearchService
    from core.retrieval.searcher import PackSearcher
    from plugins.faiss_index import FaissBackend
    from plugins.st_embedder import SentenceTransformerEmbedder
    from tests.core.retrieval.conftest import (
        FINANCE_DOCS,
        MEDICAL_DOCS,
        make_manifest,
        write_pack,
    )

    embedder = SentenceTransformerEmbedder(device="cpu")
    embedder.warm_up()
    backend = FaissBackend(use_gpu=False)
    base = tmp_path_factory.mktemp("vector-packs")
    search = SearchService(embedder)
    for pack_id, docs in (("finance", FINANCE_DOCS), ("medical", MEDICAL_DOCS)):
        root = write_pack(base / pack_id, make_manifest(pack_id), docs, embedder, backend)
        search.add_pack(pack_id, PackSearcher.load(root, make_manifest(pack_id), embedder, backend))
    return search


QUESTIONS = [
    "How do I contest a wrong charge on my credit card?",
    "How is asthma treated?",
    "Can I stop my bank from charging overdraft fees?",
    "What are the symptoms of the flu?",
]


def test_a_precomputed_vector_gives_the_same_results_without_embedding(real_search: Any) -> None:
    packs = ["finance", "medical"]
    calls: list[int] = []
    vectors = real_search.embed_queries(QUESTIONS)
    embed = real_search.embedder.embed
    real_search.embedder.embed = lambda texts, **kw: calls.append(len(texts)) or embed(texts, **kw)
    try:
        for question, vector in zip(QUESTIONS, vectors, strict=True):
            with_vector = real_search.search(question, pack_ids=packs, k=3, query_vector=vector)
            scores = real_search.pack_scores(question, packs, query_vector=vector)
            assert calls == []
            plain = real_search.search(question, pack_ids=packs, k=3)
            assert [h.chunk_id for h in with_vector] == [h.chunk_id for h in plain]
            assert [h.pack_id for h in with_vector] == [h.pack_id for h in plain]
            assert scores == pytest.approx(real_search.pack_scores(question, packs), abs=1e-5)
            calls.clear()
    finally:
        del real_search.embedder.embed


def test_queries_embedded_in_one_batcher_find_what_direct_search_finds(real_search: Any) -> None:
    batcher = MicroBatcher(real_search.embed_queries, max_wait_ms=50, name="embed")

    async def run() -> list[Any]:
        return list(await asyncio.gather(*(batcher.submit(q) for q in QUESTIONS * 5)))

    try:
        vectors = asyncio.run(run())
    finally:
        batcher.close()
    assert batcher.stats().batches < len(QUESTIONS) * 5
    for question, vector in zip(QUESTIONS * 5, vectors, strict=True):
        top = real_search.search(question, pack_ids=["finance", "medical"], k=1,
                                 query_vector=vector)[0]
        assert top.document_id == real_search.search(question, pack_ids=["finance", "medical"],
                                                     k=1)[0].document_id


@pytest.mark.parametrize("shape", [(3,), (2, 384), (1, 383)])
def test_a_query_vector_of_the_wrong_shape_is_rejected(real_search: Any, shape: tuple) -> None:
    import numpy as np

    from core.errors import ValidationError

    with pytest.raises(ValidationError, match=r"expected \(1, 384\)"):
        real_search.search("flu", pack_ids=["medical"], query_vector=np.zeros(shape))
    with pytest.raises(ValidationError, match=r"expected \(1, 384\)"):
        real_search.pack_scores("flu", ["medical"], query_vector=np.zeros(shape))
