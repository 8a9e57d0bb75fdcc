"""Nodes that share nothing on disk: install what the catalog approved from the shared store.

Every server process keeps its data directory in step with the database:

* **trust**: the signing keys trusted for installed packs (``trust/*`` in the shared store,
  :mod:`core.ledger.shared_files`) are written to the local trust directory; a publisher key
  revoked on another node disappears here too.
* **packs**: every approved version the catalog lists and this node has not installed is
  fetched (``packs/<pack_id>/<version>``), verified against that trust and installed; a version
  rejected or withdrawn elsewhere is uninstalled; each pack whose newest approved version
  changed is served again (:class:`core.publishing.serving.ServedPacks.refresh`).
* **what only this node has**: its installation key, the built-in packs it built and signed,
  and the domain model it trained are published once, so an empty node can start from them.

When: at start-up before the packs load (:meth:`PackReplication.bootstrap`), after every change
another process commits (the access-change notification, :mod:`core.ledger.invalidation`,
debounced), and every ``interval_s`` as a fallback for a notification missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from core.errors import NotFound, PackDeskError
from core.ledger.models import PackVersion
from core.ledger.shared_files import SharedFiles, check_name, pack_archive_name, trust_file_name
from core.packs.archive import write_archive
from core.packs.files import replace_directory, write_atomic

if TYPE_CHECKING:
    from core.ledger.catalog import CatalogService
    from core.packs.store import PackStore
    from core.publishing.serving import ServedPacks

logger = logging.getLogger("packdesk.replication")

# Trust files this module keeps in step; anything else in the trust directory (a key trusted
# by hand with `packdesk keys trust`) is the operator's and left alone.
PUBLISHER_TRUST_PREFIX = "publisher-"
INSTALLATION_TRUST_PREFIX = "installation-"
DOMAIN_MODEL_PREFIX = "models/domain/"
RETIRED = ("rejected", "withdrawn")


class PackReplication:
    """Keeps one node's installed packs, trust and models in step with the shared store.

    Args:
        shared: the shared store.
        store: this node's installed packs (its ``trust_dir`` is kept in step).
        catalog: which versions are approved.
        own_key_id: this installation's signing key: the packs it signed are published.
        domain_dir: where the domain model lives on this node.
        served: the packs this process serves; set with :meth:`attach` once built.
    """

    def __init__(
        self,
        *,
        shared: SharedFiles,
        store: PackStore,
        catalog: CatalogService,
        own_key_id: str,
        domain_dir: Path,
    ) -> None:
        self._shared = shared
        self._store = store
        self._catalog = catalog
        self._own_key_id = own_key_id
        self._domain_dir = domain_dir
        self._served: ServedPacks | None = None
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        self._again = False
        self._periodic: asyncio.Task[None] | None = None
        self.reconciles = 0

    def attach(self, served: ServedPacks) -> None:
        self._served = served

    # --- start-up ---------------------------------------------------------------------------
    async def bootstrap(self) -> None:
        """Before the packs load: trust, every approved version, and the domain model when this
        node has none."""
        await self._sync_trust()
        await self._install_approved()
        await self._fetch_domain_model()

    async def publish_local(self) -> None:
        """After the packs load: publish this node's installation key, the built-in packs it
        signed and its domain model, where the shared store has none yet."""
        own = self._store.trust_dir / f"{INSTALLATION_TRUST_PREFIX}{self._own_key_id}.pub"
        if own.is_file():
            await self._shared.put(trust_file_name(own.name), own.read_bytes())
        if self._served is not None:
            for pack_id, version in self._served.served().items():
                await self._publish_own_pack(pack_id, version)
        await self._publish_domain_model()

    def builtin_key_ids(self) -> set[str]:
        """The installation keys trusted here (every node's): packs they signed are built-in."""
        trust_dir = self._store.trust_dir
        if not trust_dir.is_dir():
            return set()
        prefix, suffix = INSTALLATION_TRUST_PREFIX, ".pub"
        return {
            path.name[len(prefix) : -len(suffix)]
            for path in trust_dir.glob(f"{prefix}*{suffix}")
        }

    # --- pack archives and trust, for the publishing use case -----------------------------------
    async def share_archive(
        self, pack_id: str, version: str, archive: Path, *, replace: bool = False
    ) -> bool:
        """Keep an uploaded version's archive where every node finds it; True when stored by
        this call (False: that version's archive was there already and ``replace`` is off)."""
        return await self._shared.put(pack_archive_name(pack_id, version), archive, replace=replace)

    async def unshare_archive(self, pack_id: str, version: str) -> None:
        await self._shared.delete(pack_archive_name(pack_id, version))

    async def fetch_archive(self, pack_id: str, version: str, target: Path) -> None:
        """Write a version's shared archive to ``target``.

        Raises:
            NotFound: the shared store has no archive of that version.
        """
        await self._shared.fetch(pack_archive_name(pack_id, version), target)

    async def share_trust(self, file_name: str, pem: bytes) -> None:
        await self._shared.put(trust_file_name(file_name), pem, replace=True)

    async def unshare_trust(self, file_name: str) -> None:
        await self._shared.delete(trust_file_name(file_name))

    # --- keeping in step ----------------------------------------------------------------------
    def schedule(self) -> None:
        """Reconcile soon (on the event loop); calls while one runs coalesce into one more."""
        if self._pending is not None and not self._pending.done():
            self._again = True
            return
        self._pending = asyncio.get_running_loop().create_task(
            self._reconcile_until_quiet(), name="packdesk-replication"
        )

    def start_periodic(self, interval_s: float) -> None:
        if self._periodic is None:
            self._periodic = asyncio.create_task(self._every(interval_s), name="packdesk-resync")

    async def close(self) -> None:
        for task in (self._periodic, self._pending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._periodic = self._pending = None

    async def reconcile(self) -> set[str]:
        """Trust, installs and removals as the shared store and catalog say; serve again each
        pack whose set of approved installed versions changed. Returns those pack ids."""
        async with self._lock:
            self.reconciles += 1
            await self._sync_trust()
            changed = await self._install_approved()
            changed |= await self._remove_retired()
            if self._served is not None:
                served = self._served.served()
                statuses = await self._statuses()
                for pack_id, version in served.items():
                    if statuses.get((pack_id, version)) not in (None, "approved"):
                        changed.add(pack_id)
                for (pack_id, _version), status in statuses.items():
                    if status == "approved" and pack_id not in served:
                        changed.add(pack_id)  # installed here by another worker of this node
                for pack_id in sorted(changed):
                    await self._served.refresh(pack_id)
            return changed

    async def _reconcile_until_quiet(self) -> None:
        while True:
            self._again = False
            try:
                await self.reconcile()
            except Exception as exc:  # the database is down: a later notification or tick retries
                logger.warning("could not reconcile packs with the shared store: %s", exc)
            if not self._again:
                return

    async def _every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.schedule()

    async def _statuses(self) -> dict[tuple[str, str], str]:
        # Every version's status in one query: what the catalog says each node should serve.
        async with self._catalog.db.read() as session:
            rows = await session.execute(
                select(PackVersion.pack_id, PackVersion.version, PackVersion.status)
            )
            return {(pack_id, version): status for pack_id, version, status in rows}

    async def _sync_trust(self) -> None:
        trust_dir = self._store.trust_dir
        shared = {
            item.name.removeprefix("trust/"): item for item in await self._shared.list("trust/")
        }
        for file_name, item in shared.items():
            local = trust_dir / file_name
            if local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == item.sha256:
                continue
            content = await self._shared.read_bytes(item.name)
            await asyncio.to_thread(write_atomic, local, content)
        if trust_dir.is_dir():
            for local in trust_dir.glob(f"{PUBLISHER_TRUST_PREFIX}*.pub"):
                if local.name not in shared:  # revoked on another node
                    local.unlink(missing_ok=True)

    async def _install_approved(self) -> set[str]:
        installed: set[str] = set()
        for (pack_id, version), status in sorted((await self._statuses()).items()):
            if status != "approved":
                continue
            if version in await asyncio.to_thread(self._store.versions, pack_id):
                continue
            try:
                await self._install_shared(pack_id, version)
            except NotFound:
                logger.info(
                    "pack %s %s is approved but not in the shared store yet", pack_id, version
                )
                continue
            except PackDeskError as exc:
                logger.error("cannot install shared pack %s %s: %s", pack_id, version, exc.message)
                continue
            installed.add(pack_id)
        return installed

    async def _install_shared(self, pack_id: str, version: str) -> None:
        self._store.packs_dir.mkdir(parents=True, exist_ok=True)
        # Inside packs_dir, named like the store's own work directories: a crash leaves
        # something the start-up sweep removes.
        work = Path(tempfile.mkdtemp(prefix=".tmp-fetch-", dir=self._store.packs_dir))
        try:
            archive = work / "pack.kpack"
            await self.fetch_archive(pack_id, version, archive)
            await asyncio.to_thread(self._store.install, archive)
            logger.info("installed pack %s %s from the shared store", pack_id, version)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _remove_retired(self) -> set[str]:
        removed: set[str] = set()
        for (pack_id, version), status in (await self._statuses()).items():
            if status in RETIRED and version in await asyncio.to_thread(
                self._store.versions, pack_id
            ):
                with contextlib.suppress(PackDeskError, OSError):  # another worker removed it
                    await asyncio.to_thread(self._store.remove, pack_id, version)
                removed.add(pack_id)
        return removed

    async def _publish_own_pack(self, pack_id: str, version: str) -> None:
        name = pack_archive_name(pack_id, version)
        if await self._shared.stat(name) is not None:
            return
        installed = await asyncio.to_thread(self._store.load_version, pack_id, version)
        if installed.key_id != self._own_key_id:
            return  # an uploaded pack: shared when it was uploaded
        work = Path(tempfile.mkdtemp(prefix=".tmp-publish-", dir=self._store.packs_dir))
        try:
            archive = work / "pack.kpack"
            files = {
                path.relative_to(installed.root).as_posix(): path
                for path in installed.root.rglob("*")
                if path.is_file()
            }
            await asyncio.to_thread(write_archive, archive, files)
            if await self._shared.put(name, archive):
                logger.info("published built-in pack %s %s to the shared store", pack_id, version)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _publish_domain_model(self) -> None:
        if await publish_domain_model(self._shared, self._domain_dir):
            logger.info("published this node's domain model to the shared store")

    async def _fetch_domain_model(self) -> None:
        if self._domain_dir.is_dir():
            return
        files = await self._shared.list(DOMAIN_MODEL_PREFIX)
        if not files:
            return
        self._domain_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".domain.", dir=self._domain_dir.parent))
        try:
            for item in files:
                local_name = item.name.removeprefix(DOMAIN_MODEL_PREFIX)
                await self._shared.fetch(item.name, staging / local_name)
            await asyncio.to_thread(replace_directory, staging, self._domain_dir)
            logger.info("fetched the domain model from the shared store")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


async def publish_domain_model(shared: SharedFiles, domain_dir: Path) -> bool:
    """Publish the domain model in ``domain_dir`` when the shared store has none, or has one of
    an older format (which a node of this version refuses to load: a cluster upgraded in place
    would otherwise keep serving new nodes a head they cannot use). Returns whether it did.

    The model file (``domain.json``) is written last: a node that reads the new one also finds
    the new weights.
    """
    local_record = domain_dir / "domain.json"
    if not local_record.is_file():
        return False
    if await shared.list(DOMAIN_MODEL_PREFIX):
        try:
            theirs = json.loads(await shared.read_bytes(DOMAIN_MODEL_PREFIX + "domain.json"))
            mine = json.loads(local_record.read_text(encoding="utf-8"))
            older = int(theirs.get("format", 0)) < int(mine.get("format", 0))
        except (PackDeskError, ValueError, TypeError, OSError):
            older = True  # an unreadable shared record is replaced by a readable one
        if not older:
            return False
    files = [p for p in domain_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    for path in sorted(files, key=lambda p: (p == local_record, p.name)):
        await shared.put(check_name(DOMAIN_MODEL_PREFIX + path.name), path, replace=True)
    return True
