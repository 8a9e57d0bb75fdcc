"""``GET/PUT /v1/me/profile``: the caller's business profile, which its reply templates use."""

from __future__ import annotations

from litestar import get, put

from api.auth import CustomerRoutes
from core.ledger.accounts import Principal
from core.ledger.profiles import BusinessProfile, ProfileService


class ProfileController(CustomerRoutes):
    path = "/v1/me/profile"
    tags = ["customer"]

    @get("/", operation_id="getProfile")
    async def get_profile(self, principal: Principal, profiles: ProfileService) -> BusinessProfile:
        """The caller's business profile (fields it never set are null)."""
        return await profiles.get(principal.account_id)

    @put("/", operation_id="replaceProfile", status_code=200)
    async def replace_profile(
        self, principal: Principal, profiles: ProfileService, data: BusinessProfile
    ) -> BusinessProfile:
        """Replace the caller's business profile. Reply templates name the business's website,
        support email and phone, support hours and live chat; a sentence that needs a field the
        profile leaves out is not shown."""
        return await profiles.replace(principal.account_id, data)
