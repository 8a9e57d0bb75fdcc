"""Browser sessions, CSRF, the widget's origin checks and key scope, visitor mode and insights,
through the HTTP surface (the real app, database and models)."""

from __future__ import annotations

import json
import re
from typing import Any

from litestar.testing import TestClient

from api.web.sessions import SESSION_COOKIE, session_config
from core.settings import Settings
from tests.api.conftest import bearer
from tests.web.conftest import csrf_token, sign_in

SITE = "https://shop.example"


def finance_question(built_packs: Any) -> str:
    return built_packs.documents["finance"][0]["metadata"]["eval_questions"][0]


def create_widget_key(client: TestClient, origins: str = SITE) -> str:
    token = csrf_token(client, "/account/widget-keys")
    created = client.post(
        "/account/widget-keys",
        data={"label": "shop", "origins": origins, "_csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    page = client.get("/account/widget-keys").text
    start = page.index('data-key="') + len('data-key="')
    return page[start : page.index('"', start)]


def widget_events(response: Any) -> list[tuple[str, Any]]:
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        event = next(line[6:].strip() for line in lines if line.startswith("event:"))
        data = "\n".join(line[5:].strip() for line in lines if line.startswith("data:"))
        events.append((event, json.loads(data)))
    return events


def test_sign_in_sets_a_session_cookie_httponly_samesite_lax_not_secure_over_http(
    web_client: TestClient, web_accounts: Any
) -> None:
    response = sign_in(web_client, web_accounts.create("customer", "Acme"))
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = next(c for c in response.headers.get_list("set-cookie") if SESSION_COOKIE in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie
    assert "pd_" not in cookie  # the API key is never in the browser


def test_cookies_are_secure_when_served_over_tls(tmp_path: Any) -> None:
    from api.web import csrf_config

    settings = Settings(
        _env_prefix="PACKDESK_TEST_UNUSED_",
        data_dir=tmp_path,
        public_base_url="https://desk.example",
    )
    assert session_config(settings).secure is True
    assert csrf_config(settings).cookie_secure is True


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    refused = web_client.post(
        "/account/widget-keys", data={"origins": SITE}, follow_redirects=False
    )
    assert refused.status_code == 403
    forged = web_client.post(
        "/account/widget-keys",
        data={"origins": SITE, "_csrf_token": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert 'data-key="' not in web_client.get("/account/widget-keys").text
    # The JSON try-it route needs the header too.
    assert web_client.post("/account/ask", json={"question": "hello"}).status_code == 403


def test_sign_in_never_keeps_a_planted_session_id(
    web_client: TestClient, web_accounts: Any
) -> None:
    planted = "a" * 64
    web_client.cookies.set(SESSION_COOKIE, planted)
    response = sign_in(web_client, web_accounts.create("customer", "Acme"))
    issued = response.cookies.get(SESSION_COOKIE)
    assert issued and issued != planted
    # Signing in again (another account, same browser) rotates the id; the old id is dead.
    second = sign_in(web_client, web_accounts.create("customer", "Other"))
    rotated = second.cookies.get(SESSION_COOKIE)
    assert rotated and rotated != issued
    stale = TestClient(web_client.app, base_url="http://testserver.local")
    stale.cookies.set(SESSION_COOKIE, issued)
    with stale:
        assert stale.get("/account", follow_redirects=False).headers["location"] == "/sign-in"


def test_pages_need_the_right_signed_in_scope(web_client: TestClient, web_accounts: Any) -> None:
    assert web_client.get("/account", follow_redirects=False).status_code == 303
    sign_in(web_client, web_accounts.create("publisher", "Pub"))
    assert web_client.get("/publisher").status_code == 200
    assert web_client.get("/account", follow_redirects=False).headers["location"] == "/sign-in"
    assert web_client.get("/admin", follow_redirects=False).headers["location"] == "/sign-in"


def test_a_revoked_api_key_ends_its_browser_sessions(
    web_client: TestClient, web_accounts: Any
) -> None:
    key = web_accounts.create("customer", "Acme")
    sign_in(web_client, key)
    assert web_client.get("/account").status_code == 200
    services = web_client.app.state.services
    prefix = key.split("_")[1]
    web_client.blocking_portal.call(services.accounts.revoke_key, prefix)
    assert web_client.get("/account", follow_redirects=False).headers["location"] == "/sign-in"


def test_widget_answers_only_from_an_allowed_origin(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    pk = create_widget_key(web_client)
    path = f"/v1/widget/{pk}/ask"
    body = {"question": "hello there!", "visitor": "v" * 20}

    preflight = web_client.options(path, headers={"Origin": SITE})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    refused_preflight = web_client.options(path, headers={"Origin": "https://evil.example"})
    assert refused_preflight.status_code == 403
    assert "access-control-allow-origin" not in refused_preflight.headers

    allowed = web_client.post(path, json=body, headers={"Origin": SITE})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == SITE
    assert [e for e, _ in widget_events(allowed)][-2:] == ["summary", "done"]

    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {}):
        refused = web_client.post(path, json=body, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/origin-not-allowed")


def test_a_widget_key_can_only_ask(web_client: TestClient, web_accounts: Any) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    pk = create_widget_key(web_client)
    for method, path in [
        ("POST", "/v1/ask"),
        ("GET", "/v1/insights"),
        ("GET", "/v1/entitlements"),
        ("POST", "/v1/checkout"),
    ]:
        response = web_client.request(method, path, headers=bearer(pk), json={"question": "hi"})
        assert response.status_code == 401, (path, response.text)
    # A pk key does not sign a browser in either.
    other = TestClient(web_client.app, base_url="http://testserver.local")
    with other:
        assert sign_in(other, pk).status_code == 401
    # Revoked: refused even from its own origin.
    token = csrf_token(web_client, "/account/widget-keys")
    web_client.post(f"/account/widget-keys/{pk}/revoke", data={"_csrf_token": token})
    revoked = web_client.post(
        f"/v1/widget/{pk}/ask",
        json={"question": "hello", "visitor": "v" * 20},
        headers={"Origin": SITE},
    )
    assert revoked.status_code == 401


def test_bad_origins_are_refused_when_creating_a_key(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    for origins in ["javascript:alert(1)", "https://shop.example/path", "ftp://x.example", ""]:
        token = csrf_token(web_client, "/account/widget-keys")
        web_client.post("/account/widget-keys", data={"origins": origins, "_csrf_token": token})
    page = web_client.get("/account/widget-keys").text
    assert 'data-key="' not in page


def test_a_visitor_never_sees_an_offer_and_the_business_sees_missed_demand(
    web_client: TestClient, web_accounts: Any, built_packs: Any
) -> None:
    key = web_accounts.create("customer", "Acme")
    sign_in(web_client, key)
    pk = create_widget_key(web_client)
    question = finance_question(built_packs)
    customer_view = web_client.post("/v1/ask", json={"question": question}, headers=bearer(key))
    assert customer_view.json()["offer"]["pack_id"] == "finance"  # the business gets the offer

    asked = web_client.post(
        f"/v1/widget/{pk}/ask",
        json={"question": question + " Write to jane.doe@example.com", "visitor": "v" * 20},
        headers={"Origin": SITE},
    )
    events = widget_events(asked)
    text = "".join(data["text"] for event, data in events if event == "answer")
    assert "can't help with that here" in text
    assert "buy" not in text.lower() and "Consumer Finance" not in text
    summary = next(data for event, data in events if event == "summary")
    assert "offer" not in summary and summary["citations"] == []

    insights = web_client.get("/v1/insights?period=day&periods=1", headers=bearer(key))
    assert insights.status_code == 200, insights.text
    period = insights.json()["periods"][0]
    assert period["questions"] == 1
    [missed] = period["missed"]
    assert missed["pack_id"] == "finance" and missed["questions"] == 1
    assert "jane.doe@example.com" not in missed["examples"][0]  # redacted
    assert web_client.get("/v1/insights?periods=13", headers=bearer(key)).status_code == 422


def test_a_widget_visitor_continues_only_its_own_conversation(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    pk = create_widget_key(web_client)
    path, origin = f"/v1/widget/{pk}/ask", {"Origin": SITE}
    first = web_client.post(path, json={"question": "hello", "visitor": "a" * 20}, headers=origin)
    conversation = next(d for e, d in widget_events(first) if e == "summary")["conversation_id"]
    mine = {"question": "thanks", "visitor": "a" * 20, "conversation_id": conversation}
    assert web_client.post(path, json=mine, headers=origin).status_code == 200
    theirs = {**mine, "visitor": "b" * 20}
    assert web_client.post(path, json=theirs, headers=origin).status_code == 404


def test_widget_questions_are_rate_limited_per_visitor(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    pk = create_widget_key(web_client)
    limit = web_client.app.state.services.settings.widget_questions_per_minute_per_visitor
    statuses = [
        web_client.post(
            f"/v1/widget/{pk}/ask",
            json={"question": "hi", "visitor": "v" * 20},
            headers={"Origin": SITE},
        ).status_code
        for _ in range(limit + 1)
    ]
    assert statuses[:limit] == [200] * limit
    assert statuses[limit] == 429


def _session_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, concrete path, scope) of every page route that needs a signed-in browser."""
    routes = []
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            auth = handler.opt.get("auth", "")
            if not auth.startswith("session:"):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                routes.append((method, path, auth.removeprefix("session:")))
    return sorted(set(routes))


def test_every_page_route_refuses_a_browser_not_signed_in_with_its_scope(
    web_client: TestClient, web_accounts: Any
) -> None:
    routes = _session_routes(web_client)
    assert {scope for _, _, scope in routes} == {"customer", "publisher", "admin"}
    keys = {scope: web_accounts.create(scope) for scope in ("customer", "publisher", "admin")}
    for signed_in in (None, "customer", "publisher", "admin"):
        browser = TestClient(web_client.app, base_url="http://testserver.local")
        with browser:
            if signed_in:
                assert sign_in(browser, keys[signed_in]).status_code == 303
            token = csrf_token(browser, "/")
            for method, path, scope in routes:
                if scope == signed_in:
                    continue
                response = browser.request(
                    method, path, headers={"X-CSRFToken": token}, follow_redirects=False
                )
                if method == "GET":
                    assert response.status_code == 303, (signed_in, method, path)
                    assert response.headers["location"] == "/sign-in"
                else:
                    assert response.status_code == 401, (signed_in, method, path, response.text)
                    assert response.json()["type"].endswith("unauthenticated")


def test_deleting_my_data_erases_the_visitor_examples_but_keeps_the_counts(
    web_client: TestClient, web_accounts: Any, built_packs: Any
) -> None:
    from sqlalchemy import select

    from core.visitors.models import VisitorQuestion

    key = web_accounts.create("customer", "Acme")
    sign_in(web_client, key)
    pk = create_widget_key(web_client)
    path, origin = f"/v1/widget/{pk}/ask", {"Origin": SITE}
    question = {"question": finance_question(built_packs), "visitor": "v" * 20}
    assert web_client.post(path, json=question, headers=origin).status_code == 200

    def missed() -> dict[str, Any]:
        response = web_client.get("/v1/insights?period=day&periods=1", headers=bearer(key))
        return dict(response.json()["periods"][0]["missed"][0])

    assert len(missed()["examples"]) == 1
    assert web_client.delete("/v1/me/data", headers=bearer(key)).status_code == 200
    after = missed()
    assert after["questions"] == 1 and after["examples"] == []
    # The next visitor question erases the stored example of the earlier one.
    assert web_client.post(path, json=question, headers=origin).status_code == 200
    db = web_client.app.state.services.db

    async def tokens() -> list[str | None]:
        async with db.read() as session:
            rows = await session.scalars(
                select(VisitorQuestion.example_token).order_by(VisitorQuestion.question_id)
            )
            return list(rows)

    stored = web_client.blocking_portal.call(tokens)
    assert stored[0] is None and stored[1] is not None
    assert len(missed()["examples"]) == 1 and missed()["questions"] == 2


def test_console_uploads_refuse_oversized_or_broken_archives_and_keep_nothing(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("publisher", "Pub"))
    token = csrf_token(web_client, "/publisher")
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    limit = web_client.app.state.services.settings.max_upload_bytes
    too_large = web_client.post("/publisher/upload", content=b"x" * (limit + 1), headers=headers)
    assert too_large.status_code == 413, too_large.text
    broken = web_client.post("/publisher/upload", content=b"not a pack", headers=headers)
    assert broken.status_code == 422
    assert "error" in broken.json()
    # Without the CSRF header a form upload is refused before it is read.
    forged = web_client.post(
        "/publisher/upload", files={"archive": ("p.kpack", b"x")}, follow_redirects=False
    )
    assert forged.status_code == 403
    uploads = web_client.app.state.services.publishing.uploads_dir
    leftovers = list(uploads.glob("*")) if uploads.exists() else []
    assert leftovers == []
    assert "Nothing uploaded yet." in web_client.get("/publisher").text


def test_a_visitor_rates_only_answers_of_its_own_conversation(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    pk = create_widget_key(web_client)
    origin = {"Origin": SITE}
    asked = web_client.post(
        f"/v1/widget/{pk}/ask", json={"question": "hello", "visitor": "a" * 20}, headers=origin
    )
    summary = next(d for e, d in widget_events(asked) if e == "summary")
    rating = {
        "visitor": "a" * 20,
        "conversation_id": summary["conversation_id"],
        "turn_id": summary["turn_id"],
        "helpful": True,
    }
    path = f"/v1/widget/{pk}/feedback"
    rated = web_client.post(path, json=rating, headers=origin)
    assert rated.status_code == 200, rated.text
    assert rated.json() == {"turn_id": summary["turn_id"], "helpful": True}
    assert rated.headers["access-control-allow-origin"] == SITE
    someone_else = web_client.post(path, json={**rating, "visitor": "b" * 20}, headers=origin)
    assert someone_else.status_code == 404
    assert (
        web_client.post(path, json={**rating, "turn_id": summary["turn_id"] + 99}, headers=origin)
    ).status_code == 404
    elsewhere = web_client.post(path, json=rating, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    not_a_verdict = web_client.post(path, json={**rating, "helpful": "yes"}, headers=origin)
    assert not_a_verdict.status_code == 422


def test_an_unknown_pack_page_is_an_html_404(web_client: TestClient) -> None:
    missing = web_client.get("/packs/no-such-pack")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no such pack." in missing.text
    escaped = web_client.get("/packs/%3Cscript%3E")
    assert escaped.status_code == 404 and "<script>" not in escaped.text


def test_sign_out_ends_the_session_for_whoever_holds_its_id(
    web_client: TestClient, web_accounts: Any
) -> None:
    issued = sign_in(web_client, web_accounts.create("customer", "Acme")).cookies.get(
        SESSION_COOKIE
    )
    token = csrf_token(web_client, "/account")
    out = web_client.post("/sign-out", data={"_csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert web_client.get("/account", follow_redirects=False).headers["location"] == "/sign-in"
    copy = TestClient(web_client.app, base_url="http://testserver.local")
    copy.cookies.set(SESSION_COOKIE, issued)
    with copy:
        assert copy.get("/account", follow_redirects=False).headers["location"] == "/sign-in"


def test_the_try_it_chat_works_without_javascript(
    web_client: TestClient, web_accounts: Any
) -> None:
    sign_in(web_client, web_accounts.create("customer", "Acme"))
    token = csrf_token(web_client, "/account/try")
    answered = web_client.post(
        "/account/try", data={"question": "hello there!", "_csrf_token": token}
    )
    assert answered.status_code == 200
    assert '<div class="msg you">hello there!</div>' in answered.text
    assert '<div class="msg bot">' in answered.text
    hostile = web_client.post(
        "/account/try", data={"question": "<img src=x onerror=alert(1)>", "_csrf_token": token}
    )
    assert "<img src=x" not in hostile.text  # escaped
