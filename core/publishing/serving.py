"""Which installed version of each pack a server process serves, and which ones it skipped.

A process serves, per pack, the newest installed version that is approved and loads. A version
that fails to load (a missing or broken index, a file altered on disk) is logged and skipped,
and an older approved version is served instead when there is one: one bad pack never stops the
server, and it shows (``/readyz``, the admin API) until it is withdrawn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import PackDeskError, PackNotFound

if TYPE_CHECKING:
    from core.ledger.catalog import CatalogService
    from core.packs.store import InstalledPack, PackStore

logger = logging.getLogger("packdesk.packs")


@dataclass(frozen=True)
class SkippedPack:
    """An approved, installed pack version that could not be served, and why."""

    pack_id: str
    version: str
    code: str  # the error's stable code (``pack-format-invalid``, ``checksum-mismatch``, ...)
    error: str

    @classmethod
    def of(cls, pack_id: str, version: str, exc: BaseException) -> SkippedPack:
        if isinstance(exc, PackDeskError):
            return cls(pack_id, version, exc.code, exc.message)
        return cls(pack_id, version, "pack-load-failed", f"{type(exc).__name__}: {exc}")


class ServedPacks:
    """Chooses, loads and unloads the served version of each installed pack."""

    def __init__(
        self,
        *,
        store: PackStore,
        catalog: CatalogService,
        load: Callable[[InstalledPack], Awaitable[None]],
        unload: Callable[[str], Awaitable[None]],
        builtin_key_id: str | None = None,
        builtin_key_ids: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        """
        Args:
            store: the installed packs.
            catalog: which versions are approved.
            load: makes an installed pack searchable and routable (replacing the version
                served before); raises when it cannot.
            unload: stops serving a pack (no error when it was not served).
            builtin_key_id: the installation's own key: an installed pack it signed that the
                catalog does not know yet is a built-in pack, registered as approved.
            builtin_key_ids: the other nodes' installation keys (a node that started empty
                installs the built-in packs another node signed): what they signed is built-in
                too, never registered from here.
        """
        self._store = store
        self._catalog = catalog
        self._load = load
        self._unload = unload
        self._builtin_key_id = builtin_key_id
        self._builtin_key_ids = builtin_key_ids
        self._served: dict[str, str] = {}
        self._builtin: set[str] = set()
        self._lock = asyncio.Lock()
        # Changed in place only: whoever holds this list (the app's readiness) sees it current.
        self.skipped: list[SkippedPack] = []

    def served(self) -> dict[str, str]:
        """The version served of each pack, by pack id."""
        return dict(self._served)

    def builtin_pack_ids(self) -> set[str]:
        """The served packs signed with the installation's own key (the built-in packs)."""
        return set(self._builtin) & set(self._served)

    async def load_all(self) -> None:
        """Serve every installed pack (at start-up). Never raises for one pack's fault."""
        for pack_id in await asyncio.to_thread(self._store.pack_ids):
            await self.refresh(pack_id)

    async def refresh(self, pack_id: str) -> str | None:
        """Serve the newest installed version of ``pack_id`` that is approved and loads; serve
        none when there is no such version. Versions that fail to load are skipped and listed.

        Returns:
            The version now served, or None.
        """
        async with self._lock:
            self.skipped[:] = [s for s in self.skipped if s.pack_id != pack_id]
            for version in reversed(await asyncio.to_thread(self._store.versions, pack_id)):
                if self._served.get(pack_id) == version:
                    if await self._status(pack_id, version) == "approved":
                        return version  # already served: no reload
                elif await self._try_load(pack_id, version) is not None:
                    self._served[pack_id] = version
                    return version
            if self._served.pop(pack_id, None) is not None:
                await self._unload(pack_id)
            return None

    async def serve(self, installed: InstalledPack) -> None:
        """Load a version being approved and serve it (approval calls this before it records
        the approval). Raises what loading raises; then nothing served has changed."""
        async with self._lock:
            await self._load(installed)
            pack_id, version = installed.manifest.id, installed.manifest.version
            self._served[pack_id] = version
            self.skipped[:] = [
                s for s in self.skipped if (s.pack_id, s.version) != (pack_id, version)
            ]

    async def _try_load(self, pack_id: str, version: str) -> InstalledPack | None:
        status = await self._status(pack_id, version)
        if status not in (None, "approved"):
            logger.info("not serving pack %s %s: %s", pack_id, version, status)
            return None
        try:
            installed = await asyncio.to_thread(self._store.load_version, pack_id, version)
            if status is None:
                if installed.key_id != self._builtin_key_id:
                    logger.warning("not serving pack %s %s: not in the catalog", pack_id, version)
                    return None
                # Built here from a pack source (the built-in packs): approved by construction.
                await self._catalog.register_builtin(
                    installed.manifest, archive_path=str(installed.root)
                )
            await self._load(installed)
            if installed.key_id == self._builtin_key_id or installed.key_id in (
                self._builtin_key_ids()
            ):
                self._builtin.add(pack_id)
        except Exception as exc:  # one pack's fault, whatever it is, never stops the others
            skipped = SkippedPack.of(pack_id, version, exc)
            logger.error(
                "skipping pack %s %s: it fails to load (%s: %s); withdraw it with "
                "POST /v1/admin/packs/%s/versions/%s/withdraw",
                pack_id,
                version,
                skipped.code,
                skipped.error,
                pack_id,
                version,
            )
            self.skipped.append(skipped)
            return None
        return installed

    async def _status(self, pack_id: str, version: str) -> str | None:
        try:
            return (await self._catalog.get_version(pack_id, version)).status
        except PackNotFound:
            return None
