"""Intent lift: documents that answer the kind of question asked rank first; scores never rise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import PackFormatError
from core.packs.documents import Document
from core.packs.manifest import Intent
from core.retrieval.intent_lift import INTENTS_FILE, NO_INTENT, IntentLift, lifted
from core.retrieval.search import SearchService
from core.retrieval.searcher import PackSearcher

from .conftest import make_manifest, write_pack

INTENTS = [
    Intent(name="symptoms", examples=[
        "What are the symptoms of gout?", "How do I know if I have measles?",
        "What are the signs of anemia?", "Which symptoms point to migraine?",
    ]),
    Intent(name="causes", examples=[
        "What causes gout?", "Why do people get measles?",
        "What is the cause of anemia?", "What triggers a migraine?",
    ]),
    Intent(name="treatment", examples=[
        "How is gout treated?", "What are the treatments for measles?",
        "Is there a cure for anemia?", "What medication helps with migraine?",
    ]),
]  # fmt: skip

# Two conditions, one page per kind of question; the pages of one condition share most words.
PAGES = {
    ("asthma", "symptoms"): "Asthma brings wheezing, coughing, chest tightness and shortness of "
    "breath, often worse at night; attacks are set off by allergens, smoke and cold air.",
    ("asthma", "causes"): "Asthma comes from inflamed airways; allergens, smoke, cold air and "
    "family history make the airways narrow, so breathing brings wheezing and coughing.",
    ("asthma", "treatment"): "Asthma is controlled with inhaled corticosteroids and quick-relief "
    "inhalers that open the airways during wheezing, coughing and chest tightness.",
    ("eczema", "symptoms"): "Eczema shows as dry, itchy, red patches of skin that may crack, ooze "
    "or thicken; soaps, stress and heat make the itching flare.",
    ("eczema", "causes"): "Eczema comes from a weak skin barrier and an overactive immune "
    "response; soaps, stress, heat and family history make dry, itchy patches flare.",
    ("eczema", "treatment"): "Eczema is treated with moisturisers, steroid creams for itchy red "
    "patches, and by avoiding the soaps and heat that make it flare.",
}


def page(condition: str, kind: str, intent: str | None = "") -> Document:
    metadata = {} if intent is None else {"intent": intent or kind}
    return Document(
        id=f"{condition}-{kind}", title=f"{condition.title()}: {kind}",
        text=PAGES[condition, kind], metadata=metadata,
    )  # fmt: skip


DOCUMENTS = [page(condition, kind) for condition, kind in PAGES]


def manifest(pack_id: str = "clinic", lift: float = 0.3, intents=INTENTS):
    base = make_manifest(pack_id)
    return base.model_copy(
        update={"intents": intents, "index": base.index.model_copy(update={"intent_lift": lift})}
    )


@pytest.fixture(scope="module")
def packs(tmp_path_factory, embedder, backend) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("lift")
    return {
        "lifted": write_pack(base / "lifted", manifest(), DOCUMENTS, embedder, backend),
        "plain": write_pack(base / "plain", manifest(lift=0.0), DOCUMENTS, embedder, backend),
    }


@pytest.fixture(scope="module")
def search(packs, embedder, backend) -> SearchService:
    service = SearchService(embedder)
    for name, root in packs.items():
        lift = 0.3 if name == "lifted" else 0.0
        service.add_pack(
            name, PackSearcher.load(root, manifest(lift=lift), embedder, backend, verify=False)
        )
    return service


def test_the_index_keeps_centroids_and_each_chunks_intent(packs, embedder) -> None:
    lift = IntentLift.load(packs["lifted"] / "index", chunk_count=len(DOCUMENTS), dimension=384)
    assert lift is not None and lift.names == ("symptoms", "causes", "treatment")
    assert lift.weight == pytest.approx(0.3)
    assert np.allclose(np.linalg.norm(lift.centroids, axis=1), 1.0, atol=1e-5)
    assert [lift.names[i] for i in lift.chunk_intents] == [kind for _, kind in PAGES]
    assert not (packs["plain"] / "index" / INTENTS_FILE).exists()  # lift 0: nothing written
    probabilities = lift.probabilities(embedder.embed(["What causes psoriasis?"])[0])
    assert probabilities.argmax() == 1 and probabilities.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What causes asthma?", "asthma-causes"),
        ("How is eczema treated?", "eczema-treatment"),
        ("What are the symptoms of asthma?", "asthma-symptoms"),
        ("Why do people get eczema?", "eczema-causes"),
    ],
)
def test_the_page_of_the_kind_asked_for_ranks_first(search, question, expected, mode) -> None:
    hits = search.search(question, pack_ids=["lifted"], k=3, mode=mode)
    assert hits[0].document_id == expected


def test_scores_never_rise_and_bm25_is_untouched(search) -> None:
    for question in ("What causes asthma?", "itchy skin treatment", "wheezing at night"):
        plain = {hit.chunk_id: hit.score for hit in search.search(
            question, pack_ids=["plain"], k=6, mode="hybrid")}  # fmt: skip
        for hit in search.search(question, pack_ids=["lifted"], k=6, mode="hybrid"):
            assert hit.score <= plain[hit.chunk_id] + 1e-6
            assert hit.dense_score is not None  # the raw cosine is still reported
        bm25 = [
            [(h.chunk_id, h.score) for h in search.search(question, pack_ids=[pack], k=6,
                                                          mode="bm25")]
            for pack in ("lifted", "plain")
        ]
        assert bm25[0] == bm25[1]


def test_adjustments_and_reranking() -> None:
    lift = IntentLift(
        names=("a", "b"),
        centroids=np.eye(2, 4, dtype=np.float32),
        chunk_intents=np.array([0, 1, NO_INTENT], dtype=np.int16),
        weight=0.3,
    )
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)  # all but certain: intent "a"
    moved = lift.adjustments(query, np.array([0, 1, 2]))
    assert moved[0] == pytest.approx(0.0) and moved[2] == 0.0
    assert moved[1] == pytest.approx(-0.3, abs=1e-6)
    ranked = [(("p", 1), 0.9), (("p", 0), 0.85), (("q", 1), 0.8)]
    reranked = lifted(ranked, {"p": lift}, query)
    assert [key for key, _ in reranked] == [("p", 0), ("q", 1), ("p", 1)]
    assert reranked[2][1] == pytest.approx(0.6, abs=1e-6)  # another pack's chunk is untouched


@pytest.mark.parametrize(
    ("documents", "intents", "message"),
    [
        ([page("asthma", "causes", intent="cause")], INTENTS, "'cause', which is not one"),
        ([page("asthma", "causes").model_copy(update={"metadata": {"intent": ["causes"]}})],
         INTENTS, r"\['causes'\], which is not one"),
        ([page("asthma", "causes", intent=None)], INTENTS, "no document names"),
        ([page("asthma", "causes")], INTENTS[:1], "at least two intents"),
    ],
    ids=["unknown intent", "not a string", "no document names one", "one intent"],
)
def test_a_pack_that_cannot_be_lifted_fails_before_embedding(
    tmp_path, embedder, backend, documents, intents, message
) -> None:
    with pytest.raises(PackFormatError, match=message):
        write_pack(tmp_path / "bad", manifest(intents=intents), documents, embedder, backend)
    assert not (tmp_path / "bad" / "index" / "vectors.faiss").exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:50]),
        lambda path: np.savez(path.open("wb"), names=np.array(["a"]),
                              centroids=np.zeros((1, 384), np.float32),
                              chunk_intents=np.zeros(2, np.int16), weight=np.float32(0.3)),
        lambda path: np.savez_compressed(path.open("wb"), names=np.array(["a", "b"]),
                                         centroids=np.zeros((2, 384), np.float32),
                                         chunk_intents=np.zeros(6, np.int16),
                                         weight=np.float32(0.3)),
        lambda path: np.savez(path.open("wb"), names=np.array(["a", "b"]),
                              centroids=np.zeros((2, 384), np.float32),
                              chunk_intents=np.full(6, 65536, np.int64),  # wraps to 0 as int16
                              weight=np.float32(0.3)),
        lambda path: np.savez(path.open("wb"), names=np.array(["a", "b"]),
                              centroids=np.full((2, 384), np.nan, np.float32),
                              chunk_intents=np.zeros(6, np.int16), weight=np.float32(0.3)),
    ],
    ids=["truncated", "wrong shape", "compressed", "index out of range", "not finite"],
)
def test_a_damaged_intents_file_is_a_format_error(tmp_path, packs, damage) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(packs["lifted"] / "index", index)
    damage(index / INTENTS_FILE)
    with pytest.raises(PackFormatError, match=INTENTS_FILE):
        IntentLift.load(index, chunk_count=len(DOCUMENTS), dimension=384)


def test_a_compressed_member_is_refused_before_it_is_read(tmp_path, packs) -> None:
    """A deflated member could expand a thousandfold: only stored members are read."""
    import shutil

    index = tmp_path / "index"
    shutil.copytree(packs["lifted"] / "index", index)
    with np.load(index / INTENTS_FILE, allow_pickle=False) as arrays:
        contents = {name: arrays[name] for name in arrays.files}
    with (index / INTENTS_FILE).open("wb") as out:
        np.savez_compressed(out, **contents)  # the same, valid arrays, deflated
    with pytest.raises(PackFormatError, match="is compressed"):
        IntentLift.load(index, chunk_count=len(DOCUMENTS), dimension=384)
