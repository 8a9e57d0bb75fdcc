"""The publisher console (signing keys, uploads, review status, sales) and the admin console
(the review queue: approve, reject with a reason, withdraw)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Response, Template
from pydantic import BaseModel, Field

from api.errors import status_for
from api.services import AppServices
from api.web.rendering import back, failed, page
from api.web.sessions import page_opt, session_guard
from core.errors import ArchiveTooLarge, PackDeskError, ValidationError
from core.publishing.console import pack_stats, preview_archive, review_queue

UPLOAD_CHUNK = 64 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # a form's boundaries, headers and CSRF field around the file


class KeyForm(BaseModel):
    public_key: str = Field(default="", max_length=4000)
    signature: str = Field(default="", max_length=400)


class ReasonForm(BaseModel):
    reason: str = Field(default="", max_length=2000)


class PublisherConsole(Controller):
    path = "/publisher"
    guards = [session_guard("publisher")]
    opt = page_opt("session:publisher")
    include_in_schema = False

    @get("/", name="web:publisher")
    async def console(self, request: Request, services: AppServices) -> Template:
        user = request.state.web_user
        versions = await services.publishing.list_versions(user.account_id)
        keys = await services.accounts.publisher_public_keys(user.account_id)
        pack_ids = sorted({v.pack_id for v in versions})
        stats = await pack_stats(services.db, pack_ids)
        # Earnings this month (GET /v1/publisher/earnings) and how the publisher gets paid.
        today = datetime.now(UTC).date()
        statement = await services.earnings.statement(user.account_id, today.replace(day=1), today)
        payout = await services.payouts.status(user.account_id)
        return page(
            request,
            "publisher.html",
            versions=versions,
            keys=sorted(keys),
            stats=stats,
            statement=statement,
            payout=payout,
            account_id=user.account_id,
            max_upload_bytes=services.settings.max_upload_bytes,
        )

    @post("/payouts", status_code=303)
    async def payouts(self, request: Request, services: AppServices) -> Redirect:
        """Start (or continue) payout onboarding: to the provider's onboarding page (the local
        provider's TEST MODE page), as ``POST /v1/publisher/payouts/onboarding`` does."""
        user = request.state.web_user
        try:
            _, url = await services.payouts.start_onboarding(user.account_id)
        except PackDeskError as exc:
            return failed(request, "/publisher", exc)
        return Redirect(url, status_code=303)

    @post("/keys", status_code=303)
    async def register_key(
        self,
        request: Request,
        services: AppServices,
        data: Annotated[KeyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        user = request.state.web_user
        try:
            key_id = await services.accounts.register_publisher_key(
                user.account_id, data.public_key, data.signature
            )
        except PackDeskError as exc:
            return failed(request, "/publisher", exc)
        return back(request, "/publisher", ok=f"Signing key {key_id} registered.")

    @post("/keys/{key_id:str}/revoke", status_code=303)
    async def revoke_key(self, request: Request, services: AppServices, key_id: str) -> Redirect:
        user = request.state.web_user
        try:
            await services.publishing.revoke_key(user.account_id, key_id)
        except PackDeskError as exc:
            return failed(request, "/publisher", exc)
        return back(request, "/publisher", ok=f"Signing key {key_id} revoked.")

    @post("/upload", status_code=303)
    async def upload(self, request: Request, services: AppServices) -> Redirect | Response[dict]:
        """Upload a signed ``.kpack``: the raw body (drag and drop) or a multipart form (the
        file input without JavaScript), streamed to disk under the upload limit.

        The body limit of these routes is the upload limit plus room for a form's headers
        (:func:`publisher_console`), enforced by Litestar as the body is read: also when the
        CSRF middleware parses a form before this handler runs."""
        user = request.state.web_user
        limit = services.settings.max_upload_bytes
        publishing = services.publishing
        publishing.uploads_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=publishing.uploads_dir, suffix=".part")
        wants_json = "application/json" in request.headers.get("accept", "")
        try:
            with os.fdopen(fd, "wb") as out:
                await _receive(request, out, limit)
            if os.path.getsize(name) == 0:
                raise ValidationError("empty upload: choose a .kpack file")
            accepted = await publishing.accept_upload(user.account_id, name)
        except PackDeskError as exc:
            if wants_json:
                return Response({"error": str(exc)}, status_code=status_for(exc))
            return failed(request, "/publisher", exc)
        finally:
            if os.path.exists(name):
                os.unlink(name)
        message = f"Uploaded {accepted.pack_id} {accepted.version}: waiting for review."
        if wants_json:
            return Response({"message": message}, status_code=201)
        return back(request, "/publisher", ok=message)


async def _receive(request: Request, out: object, limit: int) -> None:
    declared = request.headers.get("content-length")
    # A multipart body carries a few hundred bytes of headers around the file.
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise ArchiveTooLarge(f"upload of {declared} bytes exceeds the {limit}-byte limit")
    size = 0
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("archive")
        if not isinstance(upload, UploadFile):
            raise ValidationError("choose a .kpack file (form field 'archive')")
        while chunk := await upload.read(UPLOAD_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ArchiveTooLarge(f"upload exceeds the {limit}-byte limit")
            out.write(chunk)  # type: ignore[attr-defined]
        return
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ArchiveTooLarge(f"upload exceeds the {limit}-byte limit")
        out.write(chunk)  # type: ignore[attr-defined]


def publisher_console(max_upload_bytes: int) -> type[PublisherConsole]:
    """The publisher console with its body limit: ``PACKDESK_MAX_UPLOAD_BYTES`` and 64 KiB."""
    return type(
        "PublisherConsole",
        (PublisherConsole,),
        {"request_max_body_size": max_upload_bytes + MULTIPART_OVERHEAD},
    )


class AdminConsole(Controller):
    path = "/admin"
    guards = [session_guard("admin")]
    opt = page_opt("session:admin")
    include_in_schema = False

    @get("/", name="web:admin")
    async def console(self, request: Request, services: AppServices) -> Template:
        pending = await review_queue(services.db, statuses=("pending",))
        previews = {
            (item.pack_id, item.version): await preview_archive(
                item.archive_path, services.settings.archive_limits
            )
            for item in pending
        }
        approved = await review_queue(services.db, statuses=("approved",))
        return page(request, "admin.html", pending=pending, previews=previews, approved=approved)

    @post("/packs/{pack_id:str}/versions/{version:str}/{action:str}", status_code=303)
    async def review(
        self,
        request: Request,
        services: AppServices,
        pack_id: str,
        version: str,
        action: str,
        data: Annotated[ReasonForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        """Approve, reject (with a reason) or withdraw a version, as ``/v1/admin`` does."""
        admin = request.state.web_user.account_id
        publishing = services.publishing
        try:
            if action == "approve":
                await publishing.approve(pack_id, version, admin_account_id=admin)
            elif action == "reject":
                await publishing.reject(pack_id, version, data.reason, admin_account_id=admin)
            elif action == "withdraw":
                await publishing.withdraw(pack_id, version, admin_account_id=admin)
            else:
                raise ValidationError(f"no action {action[:40]!r} (approve, reject, withdraw)")
        except PackDeskError as exc:
            return failed(request, "/admin", exc)
        return back(request, "/admin", ok=f"{pack_id} {version}: {action} done.")
