"""Publisher routes: register and revoke signing keys, upload signed packs, follow their review."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict

from litestar import Request, delete, get, post

from api.auth import PublisherRoutes
from api.schemas import PackVersionOut, PublisherKeyRequest, UploadAcceptedOut
from core.errors import ArchiveTooLarge, ValidationError
from core.ledger.accounts import AccountService, Principal
from core.publishing import PublishingService
from core.settings import Settings


class PublisherController(PublisherRoutes):
    path = "/v1/publisher"
    tags = ["publisher"]

    @post("/keys", operation_id="registerPublisherKey", status_code=201)
    async def register_key(
        self, principal: Principal, accounts: AccountService, data: PublisherKeyRequest
    ) -> dict[str, str]:
        """Register an Ed25519 public key (PEM or base64 raw) with a proof of possession (the
        key's signature of the registration challenge of this account); returns its key id."""
        key_id = await accounts.register_publisher_key(
            principal.account_id, data.public_key, data.signature
        )
        return {"key_id": key_id}

    @delete("/keys/{key_id:str}", operation_id="revokePublisherKey", status_code=200)
    async def revoke_key(
        self, principal: Principal, publishing: PublishingService, key_id: str
    ) -> dict[str, str]:
        """Revoke one of this publisher's keys: it verifies no new upload, and installed packs
        signed only by it stop verifying at their next load. Another publisher's key is 404."""
        await publishing.revoke_key(principal.account_id, key_id)
        return {"key_id": key_id, "status": "revoked"}

    @post(
        "/packs",
        operation_id="uploadPack",
        status_code=201,
        request_max_body_size=None,  # checked below against the upload limit, streaming
    )
    async def upload(
        self,
        request: Request,
        principal: Principal,
        publishing: PublishingService,
        settings: Settings,
    ) -> UploadAcceptedOut:
        """Upload a signed ``.kpack`` (raw body). Verified against the publisher's own keys,
        validated, stored as pending. Never executed."""
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ArchiveTooLarge(f"upload of {declared} bytes exceeds the {limit}-byte limit")
        # Streamed where accepted archives are kept, so that accepting one is a rename.
        publishing.uploads_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=publishing.uploads_dir, suffix=".part")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ArchiveTooLarge(f"upload exceeds the {limit}-byte limit")
                    out.write(chunk)
            if size == 0:
                raise ValidationError("empty upload: send the .kpack file as the request body")
            accepted = await publishing.accept_upload(principal.account_id, name)
            return UploadAcceptedOut.model_validate(asdict(accepted))
        finally:
            if os.path.exists(name):
                os.unlink(name)

    @get("/packs", operation_id="listPublisherPacks")
    async def list_packs(
        self, principal: Principal, publishing: PublishingService
    ) -> list[PackVersionOut]:
        """The status of each version this publisher uploaded (no server paths)."""
        rows = await publishing.list_versions(principal.account_id)
        return [PackVersionOut.of(row) for row in rows]
