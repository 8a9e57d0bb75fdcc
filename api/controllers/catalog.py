"""The public catalog of approved packs."""

from __future__ import annotations

from litestar import Controller, get

from api.auth import PUBLIC
from api.schemas import PackSummary, pack_summary
from core.errors import PackNotFound
from core.packs.manifest import Manifest


class CatalogController(Controller):
    path = "/v1/packs"
    tags = ["catalog"]
    opt = PUBLIC

    @get("/", operation_id="listPacks")
    async def list_packs(self, packs: dict[str, Manifest]) -> list[PackSummary]:
        """Every pack that can be bought or used (public: names and prices, never content)."""
        return [pack_summary(packs[pack_id]) for pack_id in sorted(packs)]

    @get("/{pack_id:str}", operation_id="getPack")
    async def get_pack(self, packs: dict[str, Manifest], pack_id: str) -> PackSummary:
        """One pack of the catalog."""
        manifest = packs.get(pack_id)
        if manifest is None:
            raise PackNotFound(f"no pack {pack_id!r} in the catalog")
        return pack_summary(manifest)
