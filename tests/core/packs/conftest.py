from __future__ import annotations

from pathlib import Path

import pytest

from core.packs.builder import build_pack
from core.packs.signing import TrustStore, generate_keypair
from tests.core.packs.helpers import write_pack_source


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    return generate_keypair(tmp_path / "keys", "publisher")


@pytest.fixture
def trust(keys: tuple[Path, Path, str]) -> TrustStore:
    return TrustStore.load(keys[1])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_pack_source(tmp_path / "src")


@pytest.fixture
def kpack(tmp_path: Path, source: Path, keys: tuple[Path, Path, str]) -> Path:
    out = tmp_path / "out" / "demo.kpack"
    build_pack(source, private_key_path=keys[0], out_path=out)
    return out
