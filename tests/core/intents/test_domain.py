"""The domain head: training rows, fit, save/load, staleness, the prepare-time build."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import IntentModelError
from core.intents.domain import (
    NONE,
    NONE_EXEMPLAR_MIN_SIMILARITY,
    SUPPORT_NEIGHBOURS,
    DomainModel,
    default_domain_dir,
    domain_rows,
    ensure_domain_model,
    exemplar_mask,
    fit_domain_model,
    load_domain_model,
    read_clinc_rows,
)
from core.packs.manifest import Intent, Manifest
from core.settings import Settings

DIM = 64


def fake_embed(texts: list[str]) -> np.ndarray:
    """Hashed bag of words, unit rows: the real MiniLM is too slow for a unit test."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIM] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


def manifest(pack_id: str, examples: list[str], *, generic: bool = False) -> Manifest:
    return Manifest.model_validate(
        {
            "id": pack_id,
            "name": pack_id.title(),
            "version": "1.0.0",
            "domain": pack_id,
            "publisher": "tests",
            "license": "CC0-1.0",
            "attribution": "written for the tests",
            "pricing": {"model": "free"},
            "embedding_model": {"id": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384},
            "serves_generic_intents": generic,
            "intents": [
                Intent(name="ask", examples=examples).model_dump(mode="json"),
                Intent(name="human_agent", platform=True, examples=["a person", "an agent"])
                .model_dump(mode="json"),
            ],
        }
    )


FINANCE = manifest("finance", ["my card was declined", "transfer money to my account"])
SUPPORT = manifest(
    "support-basics", ["cancel my order", "where is my refund", "reset my password"],
    generic=True,
)


def test_rows_label_packs_clinc_finance_and_none() -> None:
    rows = domain_rows([SUPPORT, FINANCE])
    labels = {r.label for r in rows}
    assert labels == {"finance", "support-basics", NONE}
    # Platform intents are the platform step's business, not a domain.
    assert not any(r.text in ("a person", "an agent") for r in rows)
    clinc = read_clinc_rows()
    assert len(clinc) == 15_100  # CLINC150 train + oos_train, no validation row
    finance_texts = {r["text"] for r in clinc if r["domain"] == "finance"}
    assert len(finance_texts) > 2_500
    by_text = {r.text: r.label for r in rows if r.source == "clinc150"}
    assert all(by_text[t] == "finance" for t in list(finance_texts)[:50])
    # Without a finance pack, CLINC's banking rows are out of scope.
    assert {r.label for r in domain_rows([SUPPORT])} == {"support-basics", NONE}


def test_fit_save_load_round_trip(tmp_path: Path) -> None:
    texts = ["card declined", "card payment", "cancel order", "order refund", "bake a cake",
             "play music"] * 3
    labels = ["finance", "finance", "support-basics", "support-basics", NONE, NONE] * 3
    model = fit_domain_model(fake_embed(texts), labels)
    model.info = {"data_sha256": "x"}
    model.save(tmp_path / "domain")
    loaded = DomainModel.load(tmp_path / "domain")
    assert loaded.classes == ("finance", NONE, "support-basics")
    vector = fake_embed(["card declined"])[0]
    probabilities = loaded.probabilities(vector)
    assert max(probabilities, key=lambda c: probabilities[c]) == "finance"
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(loaded.predict_proba(fake_embed(texts)), model.predict_proba(
        fake_embed(texts)), atol=1e-6)


def test_support_is_the_mean_cosine_of_a_packs_nearest_exemplars(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(12, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = ["finance"] * 5 + ["support-basics"] * 4 + [NONE] * 3
    model = fit_domain_model(vectors, labels)
    model.save(tmp_path / "domain")
    loaded = DomainModel.load(tmp_path / "domain")
    query = vectors[0] + 0.1 * vectors[1]
    query /= np.linalg.norm(query)
    expected = np.sort(vectors[:5] @ query)[-SUPPORT_NEIGHBOURS:].mean()
    support = loaded.support(query, ["finance", "support-basics", "unknown"])
    # float16 on disk: cosines within 1e-3; unknown packs have no exemplars.
    assert set(support) == {"finance", "support-basics"}
    assert support["finance"] == pytest.approx(expected, abs=2e-3)
    assert support["support-basics"] == pytest.approx(
        np.sort(vectors[5:9] @ query)[-SUPPORT_NEIGHBOURS:].mean(), abs=2e-3)
    # A question far from every finance row has low support whatever its probability.
    assert loaded.support(-vectors[0], ["finance"])["finance"] < support["finance"]
    # Every pack row is an exemplar; a "none" row only near one (the next test).
    near_a_pack = (vectors[9:] @ vectors[:9].T).max(axis=1) >= NONE_EXEMPLAR_MIN_SIMILARITY
    assert len(loaded.exemplar_classes) == 9 + int(near_a_pack.sum())


def test_none_rows_near_a_packs_rows_are_kept_as_exemplars(tmp_path: Path) -> None:
    # "when is payday" (none) near "when does my salary arrive" (finance): kept, and its
    # support reported; "play some jazz" far from every pack row: dropped.
    basis = np.eye(4, dtype=np.float32)
    salary, refund = basis[0], basis[1]
    payday = 0.8 * basis[0] + 0.6 * basis[2]  # cosine 0.8 to the finance row
    jazz = basis[3]  # cosine 0 to every pack row
    vectors = np.stack([salary, salary, refund, refund, payday, payday, jazz, jazz])
    labels = ["finance", "finance", "support-basics", "support-basics", NONE, NONE, NONE, NONE]
    kept = exemplar_mask(vectors, labels)
    assert kept.tolist() == [True] * 6 + [False] * 2
    fit_domain_model(vectors, labels).save(tmp_path / "domain")
    loaded = DomainModel.load(tmp_path / "domain")
    assert len(loaded.exemplar_classes) == 6
    support = loaded.support(payday, ["finance", NONE])
    assert support[NONE] == pytest.approx(1.0, abs=2e-3)
    assert support["finance"] == pytest.approx(0.8, abs=2e-3)


def test_a_broken_model_directory_is_refused_and_serving_falls_back(tmp_path: Path) -> None:
    with pytest.raises(IntentModelError):
        DomainModel.load(tmp_path / "missing")
    assert load_domain_model(tmp_path / "missing", ["finance"]) is None
    model = fit_domain_model(fake_embed(["a b", "c d", "a", "c"]), ["finance", NONE] * 2)
    model.save(tmp_path / "domain")
    record = json.loads((tmp_path / "domain" / "domain.json").read_text())
    record["classes"] = ["finance", NONE, "legal"]
    (tmp_path / "domain" / "domain.json").write_text(json.dumps(record))
    with pytest.raises(IntentModelError, match="inconsistent"):
        DomainModel.load(tmp_path / "domain")
    # A head of the first format (no exemplars) is refused too: prepare rebuilds it.
    record["classes"], record["format"] = ["finance", NONE], 1
    (tmp_path / "domain" / "domain.json").write_text(json.dumps(record))
    with pytest.raises(IntentModelError, match="inconsistent"):
        DomainModel.load(tmp_path / "domain")


def test_ensure_builds_once_then_skips_until_the_packs_change(tmp_path: Path) -> None:
    settings = Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=tmp_path / "data")
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return fake_embed(texts)

    model_dir, built = ensure_domain_model(settings, [SUPPORT, FINANCE], embed, embedder_id="t")
    assert built and model_dir == default_domain_dir(settings)
    info = json.loads((model_dir / "domain.json").read_text())
    assert set(info["classes"]) == {"finance", "support-basics", NONE}
    assert info["cv"]["folds"] == 3  # the smallest class (support-basics) has 3 rows
    assert 0.0 <= info["cv"]["accuracy"] <= 1.0
    assert len(calls) == 1
    assert ensure_domain_model(settings, [SUPPORT, FINANCE], embed, embedder_id="t")[1] is False
    assert len(calls) == 1  # up to date: nothing embedded
    # A pack more (or another embedder) changes the data hash: rebuilt.
    legal = manifest("legal", ["what does tort mean", "define negligence in law"])
    assert ensure_domain_model(settings, [SUPPORT, FINANCE, legal], embed, embedder_id="t")[1]
    loaded = load_domain_model(model_dir, ["finance", "support-basics", "legal"])
    assert loaded is not None and "legal" in loaded.classes


def test_a_truncated_weights_file_is_refused(tmp_path: Path) -> None:
    model = fit_domain_model(fake_embed(["a b", "c d", "a", "c"]), ["finance", NONE] * 2)
    model.save(tmp_path / "domain")
    weights = tmp_path / "domain" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])  # a zip cut short: zipfile.BadZipFile
    with pytest.raises(IntentModelError, match="no usable domain model"):
        DomainModel.load(tmp_path / "domain")
    assert load_domain_model(tmp_path / "domain", ["finance"]) is None
