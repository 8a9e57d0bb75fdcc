"""The publisher flow: accept a signed upload as pending, and install it when approved.

Uploaded packs are data only: they are read with the hostile-archive reader, verified
against the uploading publisher's own keys, and never imported or executed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from core.errors import IndexMismatch, UnknownSigningKey


async def accept_upload(services: Any, account_id: str, upload_path: str) -> dict[str, Any]:
    """Verify an uploaded archive and record it as a pending version.

    Raises:
        UnknownSigningKey: signed by a key this publisher has not registered (including a key
            of another publisher).
        PackVerificationError / PackFormatError: a bad signature or a malformed archive.
        IndexMismatch: the pack's index was built with another embedding model.
        Conflict: a duplicate version, or a pack id owned by another publisher.
    """
    from core.packs.signing import TrustStore, public_key_from_pem_or_raw
    from core.packs.verify import verify_pack

    keys = await services.accounts.publisher_public_keys(account_id)
    if not keys:
        raise UnknownSigningKey(
            "this publisher has no registered signing key: POST /v1/publisher/keys first"
        )
    trust = TrustStore.from_keys(public_key_from_pem_or_raw(raw) for raw in keys.values())
    verified = await asyncio.to_thread(
        verify_pack, Path(upload_path), trust, services.settings.archive_limits
    )
    manifest = verified.manifest
    embedder = services.search.embedder
    if (manifest.embedding_model.id, manifest.embedding_model.dimension) != (
        embedder.model_id,
        embedder.dimension,
    ):
        raise IndexMismatch(
            f"pack index built with {manifest.embedding_model.id} "
            f"({manifest.embedding_model.dimension} dimensions); this server uses "
            f"{embedder.model_id} ({embedder.dimension}): rebuild the pack"
        )
    with open(upload_path, "rb") as upload:  # streamed: uploads may be hundreds of megabytes
        digest = hashlib.file_digest(upload, "sha256").hexdigest()[:16]
    # Unique per upload: a refused duplicate must never overwrite (then delete) the archive
    # of the version it duplicates.
    stored = (
        services.settings.data_dir
        / "uploads"
        / f"{manifest.id}-{manifest.version}-{digest}-{secrets.token_hex(4)}.kpack"
    )
    os.replace(upload_path, stored)
    try:
        info = await services.catalog.submit_version(account_id, manifest, str(stored))
    except BaseException:
        stored.unlink(missing_ok=True)  # no partial state: a refused upload leaves no file
        raise
    return {
        "pack_id": info.pack_id,
        "version": info.version,
        "status": info.status,
        "key_id": verified.key_id,
    }


async def approve_version(services: Any, pack_id: str, version: str, admin_id: str) -> None:
    """Install a pending version, then mark it approved, load it and sync its price.

    The ledger changes last, so a version whose install fails stays pending.
    """
    from core.packs.signing import TrustStore, public_key_from_pem_or_raw, public_key_pem
    from core.packs.verify import verify_pack

    info = await services.catalog.get_version(pack_id, version)
    if info.status != "pending":
        from core.errors import Conflict

        raise Conflict(f"pack {pack_id} version {version} is {info.status}, not pending")
    publisher_account = await services.catalog.publisher_of(pack_id)
    publisher_keys = (
        await services.accounts.publisher_public_keys(publisher_account)
        if publisher_account
        else {}
    )
    trust = TrustStore.from_keys(public_key_from_pem_or_raw(raw) for raw in publisher_keys.values())
    archive = Path(info.archive_path)
    verified = await asyncio.to_thread(
        verify_pack, archive, trust, services.settings.archive_limits
    )
    # Approval is the operator trusting this publisher key for installed packs: the store
    # re-verifies every installed pack against the trust directory at each load.
    trusted = services.settings.trust_dir / f"publisher-{verified.key_id}.pub"
    if not trusted.exists():
        trusted.parent.mkdir(parents=True, exist_ok=True)
        key = public_key_from_pem_or_raw(publisher_keys[verified.key_id])
        trusted.write_bytes(public_key_pem(key))
    installed = await asyncio.to_thread(services.store.install, archive)
    await services.catalog.approve(pack_id, version)
    await services.load_pack(installed)
    await services.billing.sync_price(pack_id, version)
