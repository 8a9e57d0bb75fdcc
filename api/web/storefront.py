"""The public storefront (catalog, pack pages), sign-in and sign-out, and buying a pack."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field

from api.services import AppServices
from api.web.rendering import back, failed, page
from api.web.sessions import (
    WebUser,
    current_user,
    page_opt,
    rotate_session,
    session_guard,
    sign_in,
)
from core.errors import AuthenticationError, PackDeskError, PackNotFound
from core.packs.manifest import Manifest

HOME_BY_SCOPE = {"customer": "/account", "publisher": "/publisher", "admin": "/admin"}
SAMPLE_QUESTIONS = 3


class SignInForm(BaseModel):
    api_key: str = Field(default="", max_length=200)


def pack_card(manifest: Manifest) -> dict[str, Any]:
    """What the catalog shows of a pack: never its documents."""
    samples = [
        example
        for intent in manifest.intents
        if not intent.platform
        for example in intent.examples[:1]
    ][:SAMPLE_QUESTIONS]
    pricing = manifest.pricing
    price = (
        "Free"
        if pricing.model == "free"
        else f"{pricing.amount / 100:.2f} {pricing.currency.upper()}"
        + (" / month" if pricing.model == "monthly" else " one-time")
    )
    return {
        "id": manifest.id,
        "name": manifest.name,
        "version": manifest.version,
        "domain": manifest.domain,
        "publisher": manifest.publisher,
        "description": manifest.description,
        "license": manifest.license,
        "attribution": manifest.attribution,
        "disclaimer": manifest.disclaimer,
        "price": price,
        "free": pricing.model == "free",
        "samples": samples,
    }


async def owned_pack_ids(services: AppServices, user: WebUser | None) -> set[str]:
    if user is None or user.scope != "customer":
        return set()
    return await services.entitlements.readable_pack_ids(user.account_id, active_only=False)


class StorefrontController(Controller):
    opt = page_opt("public")
    include_in_schema = False

    @get("/", name="web:home")
    async def home(self, request: Request, services: AppServices) -> Template:
        """The catalog."""
        owned = await owned_pack_ids(services, current_user(request))
        cards = [pack_card(services.packs[pack_id]) for pack_id in sorted(services.packs)]
        return page(request, "catalog.html", packs=cards, owned=owned)

    @get("/packs/{pack_id:str}", name="web:pack")
    async def pack(self, request: Request, services: AppServices, pack_id: str) -> Template:
        manifest = services.packs.get(pack_id)
        if manifest is None:
            missing = page(request, "not_found.html", message="There is no such pack.")
            missing.status_code = 404
            return missing
        owned = await owned_pack_ids(services, current_user(request))
        return page(request, "pack.html", pack=pack_card(manifest), owned=pack_id in owned)

    @get("/sign-in", name="web:sign-in")
    async def sign_in_page(self, request: Request) -> Template:
        return page(request, "sign_in.html", error=None)

    @post("/sign-in", status_code=200)
    async def sign_in(
        self,
        request: Request,
        services: AppServices,
        data: Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        """Exchange an API key for a session once; the key itself is not kept anywhere."""
        try:
            principal = await services.accounts.authenticate(data.api_key.strip())
        except AuthenticationError:
            template = page(request, "sign_in.html", error="That key is unknown or revoked.")
            template.status_code = 401
            return template
        info = await services.accounts.get_account(principal.account_id)
        sign_in(
            request,
            WebUser(
                account_id=principal.account_id,
                scope=principal.scope,
                name=info.name,
                key_prefix=principal.key_prefix,
            ),
        )
        return Redirect(HOME_BY_SCOPE.get(principal.scope, "/"), status_code=303)

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request) -> Redirect:
        rotate_session(request)
        request.clear_session()
        return Redirect("/", status_code=303)


class BuyController(Controller):
    guards = [session_guard("customer")]
    opt = page_opt("session:customer")
    include_in_schema = False

    @post("/packs/{pack_id:str}/buy", status_code=303)
    async def buy(self, request: Request, services: AppServices, pack_id: str) -> Redirect:
        """Start a checkout and send the browser to it (Stripe Checkout or the TEST MODE page)."""
        user = request.state.web_user
        try:
            session = await services.billing.start_checkout(user.account_id, pack_id)
        except PackDeskError as exc:
            return failed(request, f"/packs/{pack_id}" if pack_id in services.packs else "/", exc)
        return Redirect(session.checkout_url, status_code=303)

    @post("/account/packs/{pack_id:str}/{action:str}", status_code=303)
    async def switch(
        self, request: Request, services: AppServices, pack_id: str, action: str
    ) -> Redirect:
        """Activate or deactivate an owned pack."""
        user = request.state.web_user
        try:
            if action == "activate":
                await services.entitlements.activate(user.account_id, pack_id)
            elif action == "deactivate":
                await services.entitlements.deactivate(user.account_id, pack_id)
            else:
                raise PackNotFound(f"no action {action[:40]!r} (activate or deactivate)")
        except PackDeskError as exc:
            return failed(request, "/account", exc)
        return back(request, "/account", ok=f"{pack_id}: {action}d.")
