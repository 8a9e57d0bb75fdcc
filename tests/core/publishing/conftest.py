"""Publishing fixtures: a migrated SQLite ledger, a pack store, and signed packs to upload."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.ledger.accounts import AccountService
from core.ledger.catalog import CatalogService
from core.ledger.db import Database, create_database
from core.migrations import migrate
from core.packs.builder import build_pack
from core.packs.signing import generate_keypair
from core.packs.store import InstalledPack, PackStore
from core.publishing import EmbeddingIdentity, PublishingService
from core.settings import Settings
from tests.core.packs.helpers import MANIFEST, FakeIndexBuilder, write_pack_source

SERVED_MODEL = EmbeddingIdentity(
    model_id=MANIFEST["embedding_model"]["id"], dimension=MANIFEST["embedding_model"]["dimension"]
)


@dataclass
class FakeBilling:
    """Records the price syncs the service asks for (the provider is not under test here)."""

    synced: list[tuple[str, str]] = field(default_factory=list)

    async def sync_price(self, pack_id: str, version: str) -> str:
        self.synced.append((pack_id, version))
        return f"price_{pack_id}_{version}"


@dataclass
class Publishing:
    """The service under test and what it was built from."""

    service: PublishingService
    accounts: AccountService
    catalog: CatalogService
    store: PackStore
    billing: FakeBilling
    settings: Settings
    made_live: list[InstalledPack]
    changed: list[str]  # pack ids passed to on_changed


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = create_database(settings)
    await migrate(database)
    yield database
    await database.dispose()


def make_publishing(
    db: Database,
    settings: Settings,
    *,
    embedding: EmbeddingIdentity = SERVED_MODEL,
    load: Callable[[InstalledPack], Awaitable[None]] | None = None,
    platform_pack_ids: frozenset[str] = frozenset(),
) -> Publishing:
    """The service with a fake billing provider; ``load`` stands in for loading a pack for
    search (it may raise, as a pack without an index does)."""
    accounts, catalog, store = AccountService(db), CatalogService(db), PackStore(settings)
    billing, made_live, changed = FakeBilling(), [], []

    async def on_approved(installed: InstalledPack) -> None:
        if load is not None:
            await load(installed)
        made_live.append(installed)

    async def on_changed(pack_id: str) -> None:
        changed.append(pack_id)

    service = PublishingService(
        accounts=accounts,
        catalog=catalog,
        store=store,
        billing=billing,  # type: ignore[arg-type]
        embedding=embedding,
        archive_limits=settings.archive_limits,
        uploads_dir=settings.data_dir / "uploads",
        trust_dir=settings.trust_dir,
        on_approved=on_approved,
        on_changed=on_changed,
        platform_pack_ids=platform_pack_ids,
    )
    return Publishing(service, accounts, catalog, store, billing, settings, made_live, changed)


@pytest.fixture
def publishing(db: Database, settings: Settings) -> Publishing:
    return make_publishing(db, settings)


@dataclass(frozen=True)
class Signer:
    private: Path
    public: Path
    key_id: str

    def build(self, out_dir: Path, **manifest_overrides: object) -> Path:
        """A signed ``.kpack`` of the test pack (index included), built with this key."""
        version = str(manifest_overrides.get("version", MANIFEST["version"]))
        source = write_pack_source(out_dir / f"src-{self.key_id}-{version}", **manifest_overrides)
        out = out_dir / f"{self.key_id}-{version}.kpack"
        build_pack(
            source, private_key_path=self.private, out_path=out, index_builder=FakeIndexBuilder()
        )
        return out


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(*generate_keypair(tmp_path / "keys", "publisher"))


@pytest.fixture
def other_signer(tmp_path: Path) -> Signer:
    return Signer(*generate_keypair(tmp_path / "other-keys", "rival"))
