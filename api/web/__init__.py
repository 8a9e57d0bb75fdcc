"""The web: server-rendered pages (storefront, business account, publisher and admin consoles),
the embeddable widget and ``GET /v1/insights``. docs/web.md.

Pages are Jinja templates rendered by the Litestar app itself, with plain CSS and a little
JavaScript that only enhances forms that work without it; there is no front-end build step.
Browsers sign in once with an API key and then hold only a session cookie; every form and every
JavaScript POST carries a CSRF token. The bearer-key API under ``/v1/`` is unchanged: it sets
and reads no cookie, so it is outside the session and CSRF middleware.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.web.business import BusinessController
from api.web.consoles import AdminConsole, publisher_console
from api.web.insights import InsightsController
from api.web.secret import web_secret
from api.web.services import provide_web
from api.web.sessions import (
    SESSION_STORE,
    DatabaseSessionStore,
    SignInRequired,
    page_opt,
    session_config,
)
from api.web.storefront import BuyController, StorefrontController
from api.web.widget import WidgetController, WidgetScriptController
from core.settings import Settings

WEB_DIR = Path(__file__).parent
CSRF_COOKIE = "packdesk_csrf"
CSRF_HEADER = "x-csrftoken"
# Outside the browser session: the bearer-key API (and the widget route, called cross-origin
# with its pk_ key), static files and probes. Every other unsafe request needs the token.
NOT_BROWSER_SESSION = ["^/v1/", "^/static/", "^/widget.js", "^/healthz", "^/readyz", "^/metrics"]


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response[Any]:
    """A page that needs a signed-in browser sends it to /sign-in; a script gets a 401."""
    if request.method == "GET":
        return Redirect("/sign-in", status_code=303)
    return Response(
        {
            "type": "https://packdesk.dev/problems/unauthenticated",
            "title": "Unauthenticated",
            "status": 401,
            "detail": str(exc.detail),
        },
        status_code=401,
        media_type="application/problem+json",
    )


def web_route_handlers(settings: Settings) -> list[Any]:
    """Pages, the widget and its script, the insights API, and /static."""
    static = create_static_files_router(
        path="/static",
        directories=[WEB_DIR / "static"],
        opt=page_opt("public"),
        include_in_schema=False,
        send_as_attachment=False,
    )
    return [
        StorefrontController,
        BuyController,
        BusinessController,
        publisher_console(settings.max_upload_bytes),
        AdminConsole,
        WidgetScriptController,
        WidgetController,
        InsightsController,
        static,
    ]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=WEB_DIR / "templates", engine=JinjaTemplateEngine)


def csrf_config(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=web_secret(settings),
        cookie_name=CSRF_COOKIE,
        cookie_httponly=True,  # pages put the token in a meta tag and in each form
        cookie_secure=settings.public_base_url.startswith("https://"),
        cookie_samesite="lax",
        header_name=CSRF_HEADER,
        exclude=NOT_BROWSER_SESSION,
    )


def web_middleware(settings: Settings) -> list[Any]:
    return [session_config(settings).middleware]


WEB_DEPENDENCIES = {"web": Provide(provide_web, sync_to_thread=False)}
WEB_EXCEPTION_HANDLERS: dict[type[Exception], Any] = {SignInRequired: sign_in_redirect}


def web_stores() -> dict[str, Any]:
    return {SESSION_STORE: DatabaseSessionStore()}


def attach_web_services(app: Any, services: Any) -> None:
    """Build the web's services on the started engine (called from the app's lifespan)."""
    from api.web.services import start_web_services

    web = start_web_services(services)
    app.state.web = web
    app.stores.get(SESSION_STORE).records = web.sessions


__all__ = [
    "WEB_DEPENDENCIES",
    "WEB_EXCEPTION_HANDLERS",
    "attach_web_services",
    "csrf_config",
    "template_config",
    "web_middleware",
    "web_route_handlers",
    "web_stores",
]
