"""The version registry: files in the database (chunked, verified), the current-version pointer,
promote and rollback, and what another node uses to fetch the current version."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.errors import Conflict, IntentModelError, NotFound
from core.intents.versions import is_materialised, label_problem
from core.learning import current_version, materialise_version
from core.learning.registry import ModelRegistry
from core.ledger.db import Database


def fake_model_dir(root: Path, name: str, labels: list[str], weights: bytes) -> Path:
    """A model directory's file set: what the registry stores does not depend on its bytes."""
    model = root / name
    model.mkdir(parents=True)
    (model / "label_map.json").write_text(json.dumps({"labels": labels}))
    (model / "training_config.json").write_text(json.dumps(
        {"version": name, "data_sha256": f"{name:0<64}"[:64], "epochs": 3}))
    (model / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.9}}))
    (model / "model.safetensors").write_bytes(weights)
    return model


@pytest.fixture
def registry(db: Database) -> ModelRegistry:
    return ModelRegistry(db)


async def test_a_version_round_trips_through_the_database(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    weights = os.urandom(9 * 1024 * 1024 + 17)  # three chunks
    source = fake_model_dir(tmp_path, "a", ["platform:greeting", "finance:x"], weights)
    version = await registry.register(source)
    assert version.status == "registered" and not version.current
    assert version.labels == ["platform:greeting", "finance:x"]
    assert version.training_config["epochs"] == 3
    assert {item.path for item in version.files} == {
        "label_map.json", "training_config.json", "metrics.json", "model.safetensors"}

    target = tmp_path / "node2" / "model"
    await materialise_version(registry.db, version.version_id, target)
    assert (target / "model.safetensors").read_bytes() == weights
    assert is_materialised(target, version.version_id)


async def test_promote_rollback_walks_back_the_chain(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    a = await registry.register(fake_model_dir(tmp_path, "a", ["x:a", "x:b"], b"a"))
    b = await registry.register(fake_model_dir(tmp_path, "b", ["x:a", "x:b"], b"b"))
    c = await registry.register(fake_model_dir(tmp_path, "c", ["x:a", "x:b"], b"c"))
    assert await current_version(registry.db) is None
    with pytest.raises(Conflict):
        await registry.rollback(actor="test")

    await registry.promote(a.version_id, actor="test")
    await registry.promote(b.version_id, actor="test")
    await registry.promote(c.version_id, actor="test")
    assert await registry.current_version_id() == c.version_id
    with pytest.raises(Conflict, match="already current"):
        await registry.promote(c.version_id, actor="test")

    assert (await registry.rollback(actor="test")).version_id == b.version_id
    assert (await registry.rollback(actor="test")).version_id == a.version_id
    with pytest.raises(Conflict, match="no earlier"):
        await registry.rollback(actor="test")
    current = await current_version(registry.db)
    assert current is not None and current.version_id == a.version_id and current.current


async def test_unknown_versions_are_not_found(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        await registry.promote("20260101T000000Z-deadbeef-000000", actor="test")
    with pytest.raises(NotFound):
        await registry.materialise("nope", tmp_path / "x")


async def test_a_corrupt_stored_file_is_refused_and_leaves_nothing(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from core.learning.models import IntentModelChunk

    version = await registry.register(fake_model_dir(tmp_path, "a", ["x:a", "x:b"], b"weights"))
    async with registry.db.write() as session:
        await session.execute(
            update(IntentModelChunk)
            .where(IntentModelChunk.path == "model.safetensors")
            .values(data=b"tampered")
        )
    target = tmp_path / "out" / "model"
    with pytest.raises(IntentModelError, match="model.safetensors"):
        await registry.materialise(version.version_id, target)
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_label_problem_allows_learned_labels_of_served_packs_only() -> None:
    expected = {"finance:a", "finance:b"}
    assert label_problem(["finance:a", "finance:b", "finance:new"], expected, {"finance"}) is None
    assert "lacks" in (label_problem(["finance:a"], expected, {"finance"}) or "")
    assert "not served" in (label_problem(["finance:a", "finance:b", "legal:x"], expected,
                                          {"finance"}) or "")


async def test_a_registration_a_crash_left_incomplete_is_invisible_and_later_removed(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from core.learning.models import IntentModelChunk, IntentModelVersion
    from core.ledger.common import utcnow_

    async with registry.db.write() as session:
        session.add(IntentModelVersion(
            version_id="crashed", status="incomplete", training_config={}, data_sha256="0" * 64,
            metrics={}, labels=[], files=[], created_at=utcnow_() - timedelta(hours=2),
        ))
    async with registry.db.write() as session:
        session.add(IntentModelChunk(version_id="crashed", path="model.safetensors",
                                     chunk_index=0, data=b"half"))
    assert await registry.list() == []
    with pytest.raises(NotFound):
        await registry.promote("crashed", actor="test")
    await registry.register(fake_model_dir(tmp_path, "a", ["x:a", "x:b"], b"a"))
    async with registry.db.read() as session:
        assert (await session.get(IntentModelVersion, "crashed")) is None
        chunks = (await session.execute(
            select(IntentModelChunk).where(IntentModelChunk.version_id == "crashed"))).all()
        assert chunks == []
