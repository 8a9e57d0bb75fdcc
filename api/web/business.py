"""A signed-in business's pages: its packs, profile, widget keys, try-it chat and insights."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from api.controllers.ask import ask_response
from api.schemas import AskResponse
from api.services import AppServices
from api.web.rendering import back, failed, page
from api.web.services import WebServices
from api.web.sessions import page_opt, session_guard
from api.web.storefront import pack_card
from core.errors import PackDeskError, ValidationError
from core.ledger.profiles import BusinessProfile
from core.visitors.insights import Period


class ProfileForm(BaseModel):
    business_name: str = Field(default="", max_length=120)
    website: str = Field(default="", max_length=200)
    support_email: str = Field(default="", max_length=254)
    support_phone: str = Field(default="", max_length=30)
    support_hours: str = Field(default="", max_length=200)
    live_chat: str = Field(default="", max_length=200)


class WidgetKeyForm(BaseModel):
    label: str = Field(default="", max_length=100)
    origins: str = Field(default="", max_length=3000)


class TryAsk(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(default=None, max_length=40)


class BusinessController(Controller):
    path = "/account"
    guards = [session_guard("customer")]
    opt = page_opt("session:customer")
    include_in_schema = False

    @get("/", name="web:account")
    async def account(self, request: Request, services: AppServices) -> Template:
        """My packs: owned (activate, deactivate) and the rest of the catalog."""
        user = request.state.web_user
        rows = await services.entitlements.list_entitlements(user.account_id)
        owned = []
        for row in rows:
            manifest = services.packs.get(row.pack_id)
            owned.append(
                {
                    "id": row.pack_id,
                    "name": manifest.name if manifest else row.pack_id,
                    "source": row.source,
                    "status": row.status,
                    "active": row.active,
                    "readable": row.readable,
                }
            )
        owned_ids = {row.pack_id for row in rows if row.readable}
        others = [pack_card(m) for pid, m in sorted(services.packs.items()) if pid not in owned_ids]
        return page(request, "account.html", owned=owned, others=others)

    @get("/profile", name="web:profile")
    async def profile(self, request: Request, services: AppServices) -> Template:
        user = request.state.web_user
        profile = await services.profiles.get(user.account_id)
        return page(request, "profile.html", profile=profile.model_dump())

    @post("/profile", status_code=303)
    async def save_profile(
        self,
        request: Request,
        services: AppServices,
        data: Annotated[ProfileForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        user = request.state.web_user
        try:
            profile = BusinessProfile.model_validate(
                {k: v for k, v in data.model_dump().items() if v.strip()}
            )
        except PydanticValidationError as exc:
            reason = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            return failed(request, "/account/profile", ValidationError(reason))
        await services.profiles.replace(user.account_id, profile)
        return back(request, "/account/profile", ok="Profile saved.")

    @get("/widget-keys", name="web:widget-keys")
    async def widget_keys(
        self, request: Request, services: AppServices, web: WebServices
    ) -> Template:
        user = request.state.web_user
        keys = await web.widget_keys.list_keys(user.account_id)
        base = services.settings.public_base_url.rstrip("/")
        return page(request, "widget_keys.html", keys=keys, base_url=base)

    @post("/widget-keys", status_code=303)
    async def create_widget_key(
        self,
        request: Request,
        web: WebServices,
        data: Annotated[WidgetKeyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        user = request.state.web_user
        origins = [line for line in data.origins.replace(",", "\n").splitlines() if line.strip()]
        try:
            created = await web.widget_keys.create(user.account_id, origins, data.label)
        except PackDeskError as exc:
            return failed(request, "/account/widget-keys", exc)
        return back(request, "/account/widget-keys", ok=f"Widget key {created.widget_key} created.")

    @post("/widget-keys/{widget_key:str}/revoke", status_code=303)
    async def revoke_widget_key(
        self, request: Request, web: WebServices, widget_key: str
    ) -> Redirect:
        user = request.state.web_user
        try:
            await web.widget_keys.revoke(user.account_id, widget_key)
        except PackDeskError as exc:
            return failed(request, "/account/widget-keys", exc)
        return back(request, "/account/widget-keys", ok="Widget key revoked.")

    @get("/try", name="web:try")
    async def try_page(self, request: Request) -> Template:
        return page(request, "try.html", answer=None, question="")

    @post("/try", status_code=200)
    async def try_form(
        self,
        request: Request,
        services: AppServices,
        data: Annotated[TryAsk, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        """The try-it chat without JavaScript: the answer in a new page."""
        answer = await self._ask(request, services, data)
        return page(
            request, "try.html", answer=answer.model_dump(mode="json"), question=data.question
        )

    @post("/ask", status_code=200)
    async def ask(self, request: Request, services: AppServices, data: TryAsk) -> AskResponse:
        """The try-it chat with JavaScript: ``POST /v1/ask``'s answer as JSON, for the session's
        account (CSRF header required)."""
        return await self._ask(request, services, data)

    async def _ask(self, request: Request, services: AppServices, data: TryAsk) -> AskResponse:
        user = request.state.web_user
        result = await services.ask.ask(
            user.account_id, data.question, conversation_id=data.conversation_id
        )
        return ask_response(result)

    @get("/insights", name="web:insights")
    async def insights(
        self, request: Request, web: WebServices, services: AppServices, period: str = "week"
    ) -> Template:
        user = request.state.web_user
        chosen: Period = period if period in ("day", "week", "month") else "week"  # type: ignore[assignment]
        periods = await web.insights.insights(user.account_id, period=chosen, periods=4)
        names = {pid: m.name for pid, m in services.packs.items()}
        return page(request, "insights.html", periods=periods, period=chosen, names=names)
