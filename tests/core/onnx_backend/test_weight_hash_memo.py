"""The export cache key hashes the weights once per file version, not at every start."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.onnx_backend.export import MEMO_FILE, _file_sha256


def test_a_weights_hash_is_remembered_until_the_file_changes(tmp_path: Path) -> None:
    weights = tmp_path / "model" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"weights v1" * 1000)
    cache = tmp_path / "onnx"
    first = _file_sha256(weights, cache)
    assert first == hashlib.sha256(weights.read_bytes()).hexdigest()
    memo = json.loads((cache / MEMO_FILE).read_text())
    assert list(memo.values()) == [first]

    # The remembered value is what a second start uses (no re-hash of the file) ...
    key = next(iter(memo))
    (cache / MEMO_FILE).write_text(json.dumps({key: "f" * 64}))
    assert _file_sha256(weights, cache) == "f" * 64

    # ... until the file changes (size or modification time): then it is hashed again.
    weights.write_bytes(b"weights v2, longer" * 1000)
    os.utime(weights, ns=(1, 1))
    assert _file_sha256(weights, cache) == hashlib.sha256(weights.read_bytes()).hexdigest()
    (cache / MEMO_FILE).write_text("not json")  # a damaged memo only costs a re-hash
    assert _file_sha256(weights, cache) == hashlib.sha256(weights.read_bytes()).hexdigest()
