"""Helpers every page controller shares: render a template with the signed-in user, flash a
message across a redirect, and the problem of a form turned into a message."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Redirect, Template

from api.web.sessions import current_user
from core.errors import PackDeskError

FLASH = "flash"
MAX_FLASH_CHARS = 500


def page(request: Request, template: str, **context: Any) -> Template:
    session = request.scope.get("session")
    flash = None
    if isinstance(session, dict) and FLASH in session:
        flash = session.pop(FLASH)
    return Template(
        template_name=template,
        context={"user": current_user(request), "flash": flash, **context},
    )


def flash(request: Request, kind: str, message: str) -> None:
    """A message shown by the next page (the session exists: every page that posts is signed in)."""
    session = request.scope.get("session")
    if isinstance(session, dict):
        session[FLASH] = {"kind": kind, "text": message[:MAX_FLASH_CHARS]}


def back(request: Request, to: str, *, ok: str | None = None) -> Redirect:
    if ok:
        flash(request, "ok", ok)
    return Redirect(to, status_code=303)


def failed(request: Request, to: str, error: PackDeskError) -> Redirect:
    """A form's domain error, shown on the page it came from (a 303, as after success)."""
    flash(request, "error", str(error))
    return Redirect(to, status_code=303)
