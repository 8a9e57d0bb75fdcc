"""Builders for pack sources and hostile archives, shared by the pack and CLI tests."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.packs.archive import read_archive, write_archive
from core.settings import ArchiveLimits

MANIFEST: dict[str, Any] = {
    "id": "demo-pack",
    "name": "Demo Pack",
    "version": "1.0.0",
    "domain": "finance",
    "description": "A pack for tests.",
    "publisher": "Test Publisher",
    "license": "CC0-1.0",
    "attribution": "Made up for tests.",
    "pricing": {"model": "one_time", "amount": 1900, "currency": "usd"},
    "embedding_model": {"id": "all-MiniLM-L6-v2", "dimension": 384},
    "intents": [
        {"name": "open_account", "examples": ["how do I open an account"]},
        {"name": "close_account", "examples": ["close my account"], "reply_template": "Sure."},
    ],
    "disclaimer": "Not financial advice.",
}
DOCUMENTS = [
    {"id": "d1", "title": "Opening", "text": "You can open an account online.", "metadata": {}},
    {"id": "d2", "title": "Closing", "text": "Call us to close an account.", "source_url": None},
    {"id": "d3", "title": "Fees", "text": "There is no monthly fee."},
]


def write_pack_source(root: Path, **manifest_overrides: Any) -> Path:
    """An authored pack directory: manifest.json, documents.jsonl, LICENSE, data/notes.md."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {**MANIFEST, **manifest_overrides}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (root / "documents.jsonl").write_text("\n".join(json.dumps(d) for d in DOCUMENTS) + "\n")
    (root / "LICENSE").write_text("CC0 1.0 Universal\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "notes.md").write_text("# Notes\n")
    return root


class FakeIndexBuilder:
    """Stands in for the real PackIndexBuilder: writes a binary and a JSON index file."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def build(self, manifest: Any, documents: list[Any], index_dir: Path) -> None:
        self.calls.append((manifest.id, len(documents)))
        (index_dir / "vectors.bin").write_bytes(bytes(range(256)) * 4)
        (index_dir / "meta.json").write_text(json.dumps({"count": len(documents)}))


def rewrite_archive(src: Path, dst: Path, mutate: Callable[[dict[str, bytes]], None]) -> Path:
    """Copy a pack archive through ``mutate(files)`` (change, add or drop entries)."""
    files = read_archive(src, ArchiveLimits())
    mutate(files)
    write_archive(dst, dict(files))
    return dst


def flip_byte(data: bytes) -> bytes:
    """``data`` with one byte changed: the first ASCII letter from the middle on, case-swapped,
    so text files stay valid UTF-8 and JSON and only the checksum can catch the change."""
    index = next(i for i in range(len(data) // 2, len(data)) if chr(data[i]).isalpha())
    return data[:index] + bytes([data[index] ^ 0x20]) + data[index + 1 :]


def entry(name: str, data: bytes = b"", **fields: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar member; ``fields`` set TarInfo attributes (type, linkname, size, ...)."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, (data if info.isreg() else None)


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write a gzip-compressed tar with exactly the given (possibly hostile) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def signed_pack(
    path: Path,
    private_key: Path,
    files: dict[str, bytes],
    *,
    manifest: dict[str, Any] | None = None,
    raw_manifest: bytes | None = None,
    entries: list[tuple[tarfile.TarInfo, bytes | None]] | None = None,
) -> Path:
    """A pack whose manifest lists ``files`` with their true SHA-256 and is validly signed:
    hostile content that passes the signature check.

    Args:
        manifest: fields over :data:`MANIFEST` (``files`` is always recomputed).
        raw_manifest: sign these exact bytes instead (a manifest that does not validate).
        entries: extra tar members after the signed files (links, devices, odd names).
    """
    import hashlib

    from core.packs.manifest import canonical_json
    from core.packs.signing import load_private_key, sign

    table = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest_bytes = raw_manifest or canonical_json(
        {**MANIFEST, **(manifest or {}), "files": table}
    )
    signature = canonical_json(sign(load_private_key(private_key), manifest_bytes))
    members = [entry("manifest.json", manifest_bytes), entry("signature.json", signature)]
    members += [entry(name, data) for name, data in files.items()]
    return make_tar(path, members + (entries or []))


def documents_bytes(documents: list[dict[str, Any]] | None = None) -> bytes:
    return "".join(json.dumps(d) + "\n" for d in (documents or DOCUMENTS)).encode()
