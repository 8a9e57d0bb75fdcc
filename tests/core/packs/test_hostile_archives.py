"""The hostile publisher: crafted uploads, each refused with its own error type, in bounded
memory, leaving nothing behind (issue 14, "Hostile publisher").

Every archive goes through the upload path (``PublishingService.accept_upload``: verification
against the publisher's registered key, then what an uploaded pack may not declare). Most are
signed with that key, so the hostile part is reached only after the signature holds ("a valid
signature over hostile content"); a few are unsigned, to reach the checks made before it. After
each refusal: the upload is where it was, unchanged, and the uploads directory, the pack store,
the trust directory and the catalog's rows are as empty as before.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import tarfile
import tracemalloc
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.errors import (
    ArchiveAbsolutePath,
    ArchiveBomb,
    ArchiveCorrupt,
    ArchiveDuplicateEntry,
    ArchiveEntryTooLarge,
    ArchiveHardLink,
    ArchiveNameCollision,
    ArchiveNameNotPortable,
    ArchivePathTooDeep,
    ArchivePathTraversal,
    ArchiveSpecialFile,
    ArchiveSymlink,
    ArchiveTooManyFiles,
    ChecksumMismatch,
    DocumentInvalid,
    FileSetMismatch,
    IndexMismatch,
    JsonTooLarge,
    MalformedJson,
    ManifestInvalid,
    ManifestTooLarge,
    PackDeskError,
    PlatformIntentNotAllowed,
    SignatureInvalid,
    SignatureMissing,
    TextNotUtf8,
    UnknownPlaceholder,
    UnknownSigningKey,
    UnsafeArchive,
)
from core.ledger.db import Database, create_database
from core.ledger.models import Pack, PackVersion
from core.migrations import migrate
from core.packs.signing import generate_keypair, load_private_key, prove_key_possession
from core.settings import ArchiveLimits, Settings
from tests.core.packs.helpers import DOCUMENTS, documents_bytes, entry, make_tar, signed_pack
from tests.core.publishing.conftest import make_publishing

MiB = 1024 * 1024
PEAK_BOUND = 32 * MiB  # every refusal, bombs included, with the limits of the case
OTHER_MODEL = {"id": "another/embedding-model", "dimension": 768}


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    foreign: Path  # a key the publisher never registered


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("hostile-keys")
    private, public, _ = generate_keypair(root, "publisher")
    foreign, _, _ = generate_keypair(root, "stranger")
    return Keys(private, public, foreign)


# --- how each hostile archive is made ----------------------------------------------------------
Make = Callable[[Path, Keys], Path]


def good_files(**changes: bytes | None) -> dict[str, bytes]:
    """The files of a valid pack, with ``changes`` (None drops a file)."""
    files: dict[str, bytes | None] = {
        "documents.jsonl": documents_bytes(),
        "LICENSE": b"CC0 1.0 Universal\n",
        "data/notes.md": b"# Notes\n",
        **changes,
    }
    return {name: data for name, data in files.items() if data is not None}


def signed(
    *extra: tuple[tarfile.TarInfo, bytes | None], key: str = "private", **manifest: Any
) -> Make:
    """A pack signed by the publisher's key, with ``manifest`` fields, then ``extra`` members."""

    def make(path: Path, keys: Keys) -> Path:
        return signed_pack(
            path, getattr(keys, key), good_files(), manifest=manifest, entries=list(extra)
        )

    return make


def signed_files(**changes: bytes | None) -> Make:
    def make(path: Path, keys: Keys) -> Path:
        return signed_pack(path, keys.private, good_files(**changes))

    return make


def signed_raw_manifest(raw: bytes) -> Make:
    def make(path: Path, keys: Keys) -> Path:
        return signed_pack(path, keys.private, good_files(), raw_manifest=raw)

    return make


def unsigned(*members: tuple[tarfile.TarInfo, bytes | None]) -> Make:
    def make(path: Path, keys: Keys) -> Path:
        return make_tar(path, list(members))

    return make


def raw_bytes(data: bytes) -> Make:
    def make(path: Path, keys: Keys) -> Path:
        path.write_bytes(data)
        return path

    return make


def tampered(change: Callable[[dict[str, bytes]], None]) -> Make:
    """A validly signed pack, then ``change`` applied to its members (signature untouched)."""

    def make(path: Path, keys: Keys) -> Path:
        original = signed_pack(path.with_suffix(".orig"), keys.private, good_files())
        with tarfile.open(original) as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
        change(files)
        return make_tar(path, [entry(name, data) for name, data in files.items()])

    return make


def truncated(path: Path, keys: Keys) -> Path:
    signed_pack(path, keys.private, good_files(LICENSE=random.Random(1).randbytes(200_000)))
    path.write_bytes(path.read_bytes()[:-300])
    return path


def document_line(text: bytes) -> bytes:
    before, after = json.dumps({"id": "big", "text": "@"}).encode().split(b"@")
    return before + text + after + b"\n"


def incompressible_text(size: int) -> bytes:
    return base64.b64encode(random.Random(7).randbytes(size * 3 // 4))[:size]


def pax_bomb(path: Path, keys: Keys) -> Path:
    bomb, data = entry("LICENSE", b"fine\n")
    bomb.pax_headers = {"comment": "A" * (64 * MiB)}
    return make_tar(path, [(bomb, data)])


def count_bomb(path: Path, keys: Keys) -> Path:
    return make_tar(path, [entry(f"f/{n}.txt", b"") for n in range(2001)])


def huge_manifest(path: Path, keys: Keys) -> Path:
    table = {f"data/{n:07d}.bin": "0" * 64 for n in range(70_000)}  # ~6 MiB of JSON
    raw = json.dumps({"id": "demo-pack", "files": table}).encode()
    return make_tar(path, [entry("manifest.json", raw), entry("signature.json", b"{}")])


def nfc_nfd_twins(path: Path, keys: Keys) -> Path:
    """Two files whose names are one name in two Unicode forms, both signed."""
    composed = unicodedata.normalize("NFC", "data/café.md")
    decomposed = unicodedata.normalize("NFD", "data/café.md")
    assert composed != decomposed
    return signed_pack(path, keys.private, good_files(**{composed: b"1\n", decomposed: b"2\n"}))


def change_manifest(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["manifest.json"])
    manifest["pricing"] = {"model": "free", "amount": 0, "currency": "usd"}  # a free ride
    files["manifest.json"] = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def change_content(files: dict[str, bytes]) -> None:
    files["LICENSE"] = b"All rights reserved; pay the uploader.\n"


def smuggle_file(files: dict[str, bytes]) -> None:
    files["data/payload.md"] = b"# not signed\n"


def drop_signature(files: dict[str, bytes]) -> None:
    del files["signature.json"]


def intent(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "examples": [f"example of {name}"], **fields}


@dataclass(frozen=True)
class Case:
    make: Make
    error: type[PackDeskError]
    limits: dict[str, int] = field(default_factory=dict)


CASES: dict[str, Case] = {
    # bombs: by ratio, by count, by entry, by line, in the tar framing
    "ratio-bomb-signed-documents": Case(
        signed_files(**{"documents.jsonl": documents_bytes() + document_line(b"a" * 128 * MiB)}),
        ArchiveBomb,
    ),
    "ratio-bomb-unsigned-binary": Case(
        unsigned(entry("data/zeros.bin", bytes(256 * MiB))), ArchiveBomb
    ),
    "ratio-bomb-in-pax-header": Case(pax_bomb, ArchiveBomb),
    "count-bomb": Case(count_bomb, ArchiveTooManyFiles),
    "entry-over-per-entry-bound": Case(
        signed_files(**{"data/blob.bin": random.Random(3).randbytes(3 * MiB)}),
        ArchiveEntryTooLarge,
        {"max_entry_bytes": 2 * MiB},
    ),
    "jsonl-line-over-bound": Case(
        signed_files(
            **{"documents.jsonl": documents_bytes() + document_line(incompressible_text(3 * MiB))}
        ),
        JsonTooLarge,
        {"max_json_bytes": 2 * MiB},
    ),
    "huge-manifest": Case(huge_manifest, ManifestTooLarge),
    # names, each listed in the signed manifest: only the name rule refuses them
    "deep-path": Case(signed_files(**{"/".join(["d"] * 40) + "/x.md": b"x\n"}), ArchivePathTooDeep),
    "name-too-long": Case(
        signed_files(**{"data/" + "n" * 300 + ".md": b"x\n"}), ArchivePathTooDeep
    ),
    "lookalike-cyrillic-o": Case(
        signed_files(**{"data/n\u043etes.md": b"# Notes, or not\n"}), ArchiveNameNotPortable
    ),
    "nfc-nfd-twins": Case(nfc_nfd_twins, ArchiveNameNotPortable),
    "nfkc-fullwidth-name": Case(
        signed_files(**{"\uff2c\uff29\uff23\uff25\uff2e\uff33\uff25": b"x\n"}),
        ArchiveNameNotPortable,
    ),
    "case-twins": Case(signed_files(license=b"other terms\n"), ArchiveNameCollision),
    "case-twins-directory": Case(signed_files(**{"DATA/notes.md": b"x\n"}), ArchiveNameCollision),
    "exact-duplicate": Case(signed(entry("LICENSE", b"second copy\n")), ArchiveDuplicateEntry),
    "absolute-path": Case(
        signed(entry("/etc/cron.d/packdesk", b"* * * * * x\n")), ArchiveAbsolutePath
    ),
    "windows-drive-path": Case(signed(entry("C:/Windows/evil.md", b"x\n")), ArchiveAbsolutePath),
    "dot-dot": Case(signed(entry("data/../../escape.md", b"x\n")), ArchivePathTraversal),
    "backslash-dot-dot": Case(signed(entry("..\\escape.md", b"x\n")), ArchivePathTraversal),
    "control-character-name": Case(signed(entry("data/\x1b[2Jx.md", b"x\n")), UnsafeArchive),
    # entry types
    "symlink": Case(
        signed(entry("index/vectors.faiss", type=tarfile.SYMTYPE, linkname="/etc/shadow")),
        ArchiveSymlink,
    ),
    "hard-link": Case(
        signed(entry("index/copy", type=tarfile.LNKTYPE, linkname="LICENSE")), ArchiveHardLink
    ),
    "character-device": Case(
        signed(entry("index/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)),
        ArchiveSpecialFile,
    ),
    "fifo": Case(signed(entry("index/pipe", type=tarfile.FIFOTYPE)), ArchiveSpecialFile),
    # signed, and hostile inside
    "signed-bad-utf8": Case(signed_files(**{"data/notes.md": b"caf\xe9 \xff\n"}), TextNotUtf8),
    "signed-bad-json": Case(
        signed_files(**{"documents.jsonl": documents_bytes() + b'{"id": "x", "text": \n'}),
        MalformedJson,
    ),
    "signed-invalid-document": Case(
        signed_files(**{"documents.jsonl": documents_bytes() + b'{"id": "x", "body": "y"}\n'}),
        DocumentInvalid,
    ),
    "signed-repeated-document-id": Case(
        signed_files(**{"documents.jsonl": documents_bytes(DOCUMENTS + DOCUMENTS[:1])}),
        DocumentInvalid,
    ),
    "signed-manifest-wrong-types": Case(
        signed_raw_manifest(
            json.dumps({"id": 7, "version": 1.0, "pricing": "free", "intents": {}}).encode()
        ),
        ManifestInvalid,
    ),
    "signed-manifest-not-an-object": Case(signed_raw_manifest(b"[1, 2, 3]"), ManifestInvalid),
    "template-unknown-placeholder": Case(
        signed(intents=[intent("refund", reply_template="Mail {{Admin Password}} to us.")]),
        UnknownPlaceholder,
    ),
    "template-unterminated-placeholder": Case(
        signed(intents=[intent("refund", reply_template="See {{Website Name for details.")]),
        UnknownPlaceholder,
    ),
    "claims-platform-intent": Case(
        signed(intents=[intent("greeting", platform=True, reply_template="Buy my pack!")]),
        PlatformIntentNotAllowed,
    ),
    "pack-id-platform": Case(
        signed(id="platform", intents=[intent("greeting")]), PlatformIntentNotAllowed
    ),
    "index-built-with-another-model": Case(signed(embedding_model=OTHER_MODEL), IndexMismatch),
    # signature and file set
    "manifest-signature-mismatch": Case(tampered(change_manifest), SignatureInvalid),
    "content-changed-after-signing": Case(tampered(change_content), ChecksumMismatch),
    "file-not-in-manifest": Case(tampered(smuggle_file), FileSetMismatch),
    "signature-missing": Case(tampered(drop_signature), SignatureMissing),
    "signed-by-an-unregistered-key": Case(signed(key="foreign"), UnknownSigningKey),
    # the container
    "not-gzip": Case(raw_bytes(b"PK\x03\x04" + bytes(200)), ArchiveCorrupt),
    "truncated": Case(truncated, ArchiveCorrupt),
}


# --- the service under test, and what "nothing left" means -----------------------------------
@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = create_database(settings)
    await migrate(db)
    yield db
    await db.dispose()


async def catalog_rows(db: Database) -> tuple[int, int]:
    async with db.read() as session:
        packs = (await session.execute(select(func.count()).select_from(Pack))).scalar_one()
        versions = (
            await session.execute(select(func.count()).select_from(PackVersion))
        ).scalar_one()
    return packs, versions


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


REFUSED: list[tuple[str, str, int]] = []  # (case, error code, peak bytes), for the summary


@pytest.mark.parametrize("name", list(CASES))
async def test_hostile_upload_is_refused_and_leaves_nothing(
    name: str, keys: Keys, settings: Settings, database: Database, tmp_path: Path
) -> None:
    case = CASES[name]
    settings = settings.model_copy(
        update={"archive_limits": ArchiveLimits(**case.limits)} if case.limits else {}
    )
    publishing = make_publishing(database, settings)
    account, _ = await publishing.accounts.create_account("Mallory Packs", "publisher")
    await publishing.accounts.register_publisher_key(
        account.account_id,
        keys.public.read_text(),
        prove_key_possession(load_private_key(keys.private), account.account_id),
    )
    (tmp_path / "built").mkdir()
    built = case.make(tmp_path / "built" / f"{name}.kpack", keys)
    upload = tmp_path / "incoming" / "upload.part"
    upload.parent.mkdir()
    shutil.copy(built, upload)
    original_size = upload.stat().st_size
    before = await catalog_rows(database)

    error: BaseException | None = None
    tracemalloc.start()
    try:
        await publishing.service.accept_upload(account.account_id, upload)
    except PackDeskError as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    assert type(error) is case.error, f"{name}: {error!r}"
    assert peak < PEAK_BOUND, f"{name}: peak {peak / MiB:.1f} MiB"
    assert upload.exists() and upload.stat().st_size == original_size  # left where it was
    assert files_under(publishing.service.uploads_dir) == []
    assert files_under(settings.packs_dir) == []
    assert files_under(settings.trust_dir) == []
    assert await catalog_rows(database) == before == (0, 0)
    REFUSED.append((name, case.error.code, peak))


def test_hostile_suite_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the figures (run with -s); at least 25 distinct archives are refused."""
    assert len(CASES) >= 25
    if REFUSED:
        worst = max(REFUSED, key=lambda row: row[2])
        with capsys.disabled():
            print(
                f"\nhostile publisher: {len(REFUSED)} archives refused, "
                f"{len({code for _, code, _ in REFUSED})} error types, "
                f"peak traced memory {worst[2] / MiB:.1f} MiB ({worst[0]})"
            )


async def test_the_same_builders_make_an_acceptable_pack(
    keys: Keys, settings: Settings, database: Database, tmp_path: Path
) -> None:
    """Without its hostile part, a case's pack is accepted: each refusal is for that part."""
    publishing = make_publishing(database, settings)
    account, _ = await publishing.accounts.create_account("Honest Packs", "publisher")
    await publishing.accounts.register_publisher_key(
        account.account_id,
        keys.public.read_text(),
        prove_key_possession(load_private_key(keys.private), account.account_id),
    )
    upload = signed()(tmp_path / "ok.kpack", keys)
    accepted = await publishing.service.accept_upload(account.account_id, upload)
    assert accepted.status == "pending"
