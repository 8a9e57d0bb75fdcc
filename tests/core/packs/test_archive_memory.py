"""Reading a pack costs memory bounded by a chunk or one JSON document, not by what an entry
decompresses to (issue 14, defect 5: a 131 KB upload raised RSS by 513 MB)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import ArchiveBomb, PackDeskError
from core.packs.signing import TrustStore
from core.packs.store import PackStore
from core.packs.verify import verify_pack
from core.settings import ArchiveLimits, Settings
from tests.core.packs.helpers import documents_bytes, signed_pack

BOMB_BYTES = 128 * 1024 * 1024
PEAK_BOUND = 32 * 1024 * 1024  # the default limits: a chunk and one 8 MiB JSON line, parsed


def _bomb_documents() -> bytes:
    """One valid document whose text is 128 MiB of one letter: it packs into ~130 KB."""
    head = documents_bytes()
    line = json.dumps({"id": "bomb", "text": "@"}).encode()
    before, after = line.split(b"@")
    return head + before + b"a" * BOMB_BYTES + after + b"\n"


@pytest.fixture(scope="module")
def signed_bomb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrustStore]:
    from core.packs.signing import generate_keypair

    root = tmp_path_factory.mktemp("bomb")
    private, public, _ = generate_keypair(root / "keys", "publisher")
    archive = signed_pack(root / "bomb.kpack", private, {"documents.jsonl": _bomb_documents()})
    return archive, TrustStore.load(public)


def peak_of(call: Callable[[], object]) -> tuple[int, PackDeskError | None]:
    """Peak traced memory of ``call`` (every thread), and the PackDesk error it raised."""
    error = None
    tracemalloc.start()
    try:
        call()
    except PackDeskError as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


def test_signed_bomb_is_refused_without_being_buffered(signed_bomb) -> None:  # type: ignore[no-untyped-def]
    archive, trust = signed_bomb
    assert archive.stat().st_size < 200 * 1024  # a small upload

    peak, error = peak_of(lambda: verify_pack(archive, trust, ArchiveLimits()))

    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.1f} MiB"
    assert type(error) is ArchiveBomb, error


def test_signed_bomb_install_leaves_nothing(signed_bomb, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    archive, trust = signed_bomb
    store = PackStore(settings, trust=trust)

    peak, error = peak_of(lambda: store.install(archive))

    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.1f} MiB"
    assert type(error) is ArchiveBomb, error
    assert list(settings.packs_dir.iterdir()) == []
