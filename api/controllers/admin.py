"""Operator routes: accounts and pack review. All need an admin key."""

from __future__ import annotations

from litestar import get, post

from api.auth import AdminRoutes
from api.schemas import (
    AccountCreated,
    AdminPacksOut,
    CreateAccountRequest,
    LoadedPackOut,
    RejectRequest,
    ReviewOut,
    SkippedPackOut,
)
from api.services import AppServices
from core.ledger.accounts import AccountService, Principal
from core.publishing import PublishingService


class AdminController(AdminRoutes):
    path = "/v1/admin"
    tags = ["admin"]

    @post("/accounts", operation_id="createAccount", status_code=201)
    async def create_account(
        self, accounts: AccountService, data: CreateAccountRequest
    ) -> AccountCreated:
        """Create an account; its API key is in this response and nowhere else."""
        info, api_key = await accounts.create_account(data.name, data.scope)
        return AccountCreated(
            account_id=str(info.account_id), name=info.name, scope=info.scope, api_key=api_key
        )

    @post(
        "/packs/{pack_id:str}/versions/{version:str}/approve",
        operation_id="approvePackVersion",
        status_code=200,
    )
    async def approve(
        self, principal: Principal, publishing: PublishingService, pack_id: str, version: str
    ) -> ReviewOut:
        """Approve a pending version: it is installed, loaded, priced and shown in the catalog."""
        approved = await publishing.approve(pack_id, version, admin_account_id=principal.account_id)
        return ReviewOut(pack_id=approved.pack_id, version=approved.version, status=approved.status)

    @post(
        "/packs/{pack_id:str}/versions/{version:str}/reject",
        operation_id="rejectPackVersion",
        status_code=200,
    )
    async def reject(
        self,
        principal: Principal,
        publishing: PublishingService,
        pack_id: str,
        version: str,
        data: RejectRequest,
    ) -> ReviewOut:
        """Reject a pending version with a reason the publisher sees."""
        rejected = await publishing.reject(
            pack_id, version, data.reason, admin_account_id=principal.account_id
        )
        return ReviewOut(pack_id=rejected.pack_id, version=rejected.version, status=rejected.status)

    @post(
        "/packs/{pack_id:str}/versions/{version:str}/withdraw",
        operation_id="withdrawPackVersion",
        status_code=200,
    )
    async def withdraw(
        self, principal: Principal, publishing: PublishingService, pack_id: str, version: str
    ) -> ReviewOut:
        """Withdraw a version for good: out of the catalog, unloaded, uninstalled (audited). The
        newest approved version left, if any, is served instead. 409 when already withdrawn."""
        withdrawn = await publishing.withdraw(
            pack_id, version, admin_account_id=principal.account_id
        )
        return ReviewOut(
            pack_id=withdrawn.pack_id, version=withdrawn.version, status=withdrawn.status
        )

    @get("/packs", operation_id="listServedPacks")
    async def list_packs(self, services: AppServices) -> AdminPacksOut:
        """The pack versions this server process serves, and the approved ones it skipped
        because they failed to load (with the error)."""
        return AdminPacksOut(
            loaded=[
                LoadedPackOut(pack_id=pack_id, version=manifest.version)
                for pack_id, manifest in sorted(services.packs.items())
            ],
            skipped=[
                SkippedPackOut(pack_id=s.pack_id, version=s.version, code=s.code, error=s.error)
                for s in services.skipped_packs
            ],
        )
