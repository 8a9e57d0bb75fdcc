"""Operator routes: accounts and pack review. All need an admin key."""

from __future__ import annotations

from litestar import post

from api.auth import AdminRoutes
from api.schemas import AccountCreated, CreateAccountRequest, RejectRequest, ReviewOut
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
        approved = await publishing.approve(
            pack_id, version, admin_account_id=principal.account_id
        )
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
