"""Prepare the built-in packs: committed data copy -> authored pack source directory.

``prepare_pack("finance", out)`` writes ``out/manifest.json``, ``out/documents.jsonl`` and the
upstream license files. Output is byte-for-byte deterministic. A stamp next to the directory
(``.<name>.prepared.json``) records a hash of the inputs (data copy, manifest template, converter
code) and of every output file, so an up-to-date directory is left alone; the stamp sits
outside the pack so it never becomes one of the pack's files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import PackNotFound
from core.packs.builder import SHIPPED_VECTORS_FILE
from core.packs.files import replace_directory
from core.packs.manifest import DOCUMENTS_FILE, MANIFEST_FILE, Manifest
from knowledge_packs.convert import finance, legal, medical, support_basics
from knowledge_packs.convert.common import PACKS_ROOT, PackContent

TEMPLATE_FILE = "manifest.template.json"


@dataclass(frozen=True)
class BuiltinPack:
    """A built-in pack: its id, its folder under ``knowledge_packs/`` and its converter."""

    pack_id: str
    folder: str
    convert: Callable[[Path], PackContent]

    @property
    def root(self) -> Path:
        return PACKS_ROOT / self.folder


BUILTIN_PACKS: dict[str, BuiltinPack] = {
    pack.pack_id: pack
    for pack in (
        BuiltinPack("support-basics", "support_basics", support_basics.convert),
        BuiltinPack("finance", "finance", finance.convert),
        BuiltinPack("medical", "medical", medical.convert),
        BuiltinPack("legal", "legal", legal.convert),
    )
}


@dataclass(frozen=True)
class PrepareResult:
    pack_id: str
    path: Path
    skipped: bool  # True when the directory was already up to date
    documents: int
    intents: int


def prepare_pack(pack_id: str, out_dir: Path) -> Path:
    """Write the authored source directory of built-in pack ``pack_id`` into ``out_dir``.

    Returns:
        ``out_dir``.
    Raises:
        PackNotFound: ``pack_id`` is not a built-in pack.
    """
    return prepare_pack_result(pack_id, out_dir).path


def prepare_pack_result(pack_id: str, out_dir: Path) -> PrepareResult:
    """Like :func:`prepare_pack`, also saying whether work was skipped and how big the pack is."""
    pack = _builtin(pack_id)
    out_dir = Path(out_dir)
    stamp_path = out_dir.parent / f".{out_dir.name}.prepared.json"
    inputs = _input_digest(pack)
    stamp = _read_stamp(stamp_path)
    if (
        stamp
        and stamp.get("inputs") == inputs
        and _outputs_match(out_dir, stamp.get("outputs", {}))
    ):
        return PrepareResult(pack_id, out_dir, True, stamp["documents"], stamp["intents"])

    content = pack.convert(pack.root)
    files = render(pack, content)
    _replace_dir(out_dir, files)
    record = {
        "inputs": inputs,
        "outputs": {name: _sha256(data) for name, data in files.items()},
        "documents": len(content.documents),
        "intents": len(content.intents),
    }
    stamp_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return PrepareResult(pack_id, out_dir, False, len(content.documents), len(content.intents))


def render(pack: BuiltinPack, content: PackContent) -> dict[str, bytes]:
    """Every file of the source directory, by relative path: license files, documents, manifest."""
    files = {path.name: path.read_bytes() for path in content.license_files}
    if content.shipped_vectors is not None:
        files[SHIPPED_VECTORS_FILE] = content.shipped_vectors.read_bytes()
    files[DOCUMENTS_FILE] = b"".join(
        json.dumps(doc.model_dump(mode="json"), ensure_ascii=False, sort_keys=True).encode("utf-8")
        + b"\n"
        for doc in content.documents
    )
    template = json.loads((pack.root / TEMPLATE_FILE).read_text(encoding="utf-8"))
    manifest = Manifest.model_validate(
        {
            **template,
            "intents": [intent.model_dump(mode="json") for intent in content.intents],
            "files": {name: _sha256(data) for name, data in sorted(files.items())},
        }
    )
    files[MANIFEST_FILE] = (
        json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    ).encode("utf-8")
    return files


def _builtin(pack_id: str) -> BuiltinPack:
    try:
        return BUILTIN_PACKS[pack_id]
    except KeyError:
        known = ", ".join(BUILTIN_PACKS)
        raise PackNotFound(f"no built-in pack {pack_id!r} (built-in packs: {known})") from None


def _input_digest(pack: BuiltinPack) -> str:
    digest = hashlib.sha256()
    code = sorted((PACKS_ROOT / "convert").glob("*.py")) + [Path(__file__)]
    for path in sorted(p for p in pack.root.rglob("*") if p.is_file()) + code:
        digest.update(str(path.relative_to(PACKS_ROOT)).encode("utf-8") + b"\0")
        digest.update(_sha256(path.read_bytes()).encode("ascii"))
    return digest.hexdigest()


def _outputs_match(out_dir: Path, outputs: dict[str, str]) -> bool:
    if not outputs or not out_dir.is_dir():
        return False
    present = {p.name for p in out_dir.iterdir()}
    if present != set(outputs):
        return False
    return all(_sha256((out_dir / name).read_bytes()) == digest for name, digest in outputs.items())


def _read_stamp(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _replace_dir(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a sibling temp dir and swap it in, so readers never see half a pack."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a pack directory is readable like any other
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        replace_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
