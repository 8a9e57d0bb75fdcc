"""Customer routes: checkout, entitlements, activation, search. All need a customer key."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post

from api.auth import CustomerRoutes
from api.dependencies import services_of
from api.schemas import (
    CheckoutRequestBody,
    CheckoutResponse,
    SearchHitOut,
    SearchRequest,
    to_json_dict,
)
from core.errors import PackNotFound
from core.ledger.accounts import Principal
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.packs.manifest import Manifest


class CustomerController(CustomerRoutes):
    path = "/v1"
    tags = ["customer"]

    @post("/checkout", operation_id="startCheckout", status_code=201)
    async def checkout(
        self,
        principal: Principal,
        packs: dict[str, Manifest],
        billing: BillingService,
        data: CheckoutRequestBody,
    ) -> CheckoutResponse:
        """Start buying a pack; returns where to pay (Stripe Checkout or the local test page)."""
        if data.pack_id not in packs:
            raise PackNotFound(f"no pack {data.pack_id!r} in the catalog")
        session = await billing.start_checkout(principal.account_id, data.pack_id)
        return CheckoutResponse(checkout_url=session.checkout_url, session_id=session.session_id)

    @get("/entitlements", operation_id="listEntitlements")
    async def list_entitlements(
        self, principal: Principal, entitlements: EntitlementService
    ) -> list[dict[str, Any]]:
        """The packs the caller owns, with source, status, period end and activation."""
        rows = await entitlements.list_entitlements(principal.account_id)
        return [to_json_dict(row) for row in rows]

    @post("/packs/{pack_id:str}/activate", operation_id="activatePack", status_code=200)
    async def activate(
        self, principal: Principal, entitlements: EntitlementService, pack_id: str
    ) -> dict[str, Any]:
        """Use an owned pack in the caller's assistant."""
        await entitlements.activate(principal.account_id, pack_id)
        return {"pack_id": pack_id, "active": True}

    @post("/packs/{pack_id:str}/deactivate", operation_id="deactivatePack", status_code=200)
    async def deactivate(
        self, principal: Principal, entitlements: EntitlementService, pack_id: str
    ) -> dict[str, Any]:
        """Stop using a pack; the entitlement is kept."""
        await entitlements.deactivate(principal.account_id, pack_id)
        return {"pack_id": pack_id, "active": False}

    @post("/search", operation_id="search", status_code=200)
    async def search_packs(
        self, request: Request, principal: Principal, data: SearchRequest
    ) -> list[SearchHitOut]:
        """Search the caller's active packs only."""
        # The services from the app state, not as injected dependencies: Litestar resolves
        # sibling dependencies in an anyio task group, about a tenth of this route's event-loop
        # time under load (litestar-org/litestar#4563).
        services = services_of(request.app.state)
        search, packs = services.search, services.packs
        # Before any work, whatever the caller owns: the one limit (PACKDESK_MAX_QUERY_CHARS),
        # and no empty query, which must never reach the micro-batcher shared with /v1/ask.
        search.check_query(data.query)
        active = await services.entitlements.readable_pack_ids(
            principal.account_id, active_only=True
        )
        searchable = sorted(p for p in active if p in packs)
        if not searchable:
            return []
        # The query is embedded in one forward pass with the concurrent searches and questions
        # (the `embed` micro-batcher of /v1/ask); FAISS, BM25 and fusion run in a worker
        # thread, so the event loop only parses, checks entitlements and serialises.
        vector = None
        if data.mode != "bm25":
            vector = await services.batchers.embed.submit(data.query)
        hits = await services.batchers.search.run(
            search.search,
            data.query,
            pack_ids=searchable,
            k=data.top_k,
            mode=data.mode,
            query_vector=vector,
        )
        return [
            SearchHitOut(
                pack_id=hit.pack_id,
                document_id=hit.document_id,
                title=hit.title,
                source_url=hit.source_url,
                text=hit.text,
                score=round(float(hit.score), 4),
            )
            for hit in hits
        ]
