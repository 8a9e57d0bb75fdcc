"""The domain model in the shared store: published once, replaced only by a newer format."""

from __future__ import annotations

import json
from pathlib import Path

from core.ledger.db import Database
from core.ledger.shared_files import SharedFiles
from core.publishing.replication import DOMAIN_MODEL_PREFIX, publish_domain_model


def _head(directory: Path, fmt: int, weights: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "domain.json").write_text(json.dumps({"format": fmt, "classes": ["none"]}))
    (directory / "weights.npz").write_bytes(weights)
    return directory


async def _shared_record(shared: SharedFiles) -> tuple[dict, bytes]:
    record = json.loads(await shared.read_bytes(DOMAIN_MODEL_PREFIX + "domain.json"))
    return record, await shared.read_bytes(DOMAIN_MODEL_PREFIX + "weights.npz")


async def test_an_older_format_in_the_store_is_replaced_a_same_or_newer_one_kept(
    db: Database, tmp_path: Path
) -> None:
    shared = SharedFiles(db)
    assert not await publish_domain_model(shared, tmp_path / "none")  # no local head
    assert await publish_domain_model(shared, _head(tmp_path / "old", 1, b"old weights"))
    # Another node of the same format: first publisher wins.
    assert not await publish_domain_model(shared, _head(tmp_path / "peer", 1, b"peer weights"))
    assert await _shared_record(shared) == ({"format": 1, "classes": ["none"]}, b"old weights")
    # A node upgraded to format 2 replaces it, so new empty nodes get a head they can load.
    assert await publish_domain_model(shared, _head(tmp_path / "new", 2, b"new weights"))
    assert await _shared_record(shared) == ({"format": 2, "classes": ["none"]}, b"new weights")
    # ... and a node still on format 1 does not put the old one back.
    assert not await publish_domain_model(shared, tmp_path / "old")
    assert (await _shared_record(shared))[0]["format"] == 2
