"""The journeys of issue 17 in a real Chromium against a real server (tests/web/browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.api.conftest import DOCS_PER_PACK, bearer, install_built_packs, key_registration
from tests.web.browser import (
    CHROMIUM,
    LiveServer,
    Screenshots,
    Site,
    chromium_or_skip,
    embed_page,
    free_port,
    serve_app,
    serve_site,
)

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    built_packs: Any,
    shared_embedder: Any,
    small_classifier: Any,
) -> Iterator[LiveServer]:
    chromium_or_skip()
    settings = Settings(
        _env_prefix="PACKDESK_TEST_UNUSED_",
        data_dir=tmp_path_factory.mktemp("web-server") / "data",
        public_base_url=f"http://localhost:{free_port()}",
        billing_provider="local",
        max_upload_bytes=2 * 1024 * 1024,
    )
    install_built_packs(settings, built_packs, list(DOCS_PER_PACK))
    yield from serve_app(settings, {"embedder": shared_embedder, "classifier": small_classifier})


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def allowed_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_site(tmp_path_factory.mktemp("allowed-site"))


@pytest.fixture(scope="module")
def other_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_site(tmp_path_factory.mktemp("other-site"))


def browser_sign_in(page: Any, server: LiveServer, api_key: str) -> None:
    page.goto(f"{server.base_url}/sign-in")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def finance_question(built_packs: Any) -> str:
    return str(built_packs.documents["finance"][0]["metadata"]["eval_questions"][0])


def test_a_business_buys_activates_and_gets_a_cited_answer(
    server: LiveServer, page: Any, shots: Screenshots, built_packs: Any
) -> None:
    page.goto(server.base_url + "/")
    assert page.get_by_role("link", name="Consumer Finance").is_visible()
    shots.save(page, "catalog")
    page.set_viewport_size({"width": 390, "height": 800})
    shots.save(page, "catalog-phone")
    page.set_viewport_size({"width": 1100, "height": 800})

    browser_sign_in(page, server, server.create_account("customer", "Acme Bank"))
    assert page.url.endswith("/account")
    page.goto(f"{server.base_url}/packs/finance")
    shots.save(page, "pack")
    page.get_by_role("button", name=re.compile("^Buy Consumer Finance")).click()
    page.wait_for_load_state()
    assert "TEST MODE" in page.content()  # the local provider's checkout page
    shots.save(page, "test-mode-checkout")
    page.get_by_role("button", name="Confirm test purchase").click()
    page.wait_for_load_state()
    assert "You now own Consumer Finance" in page.content()

    page.goto(f"{server.base_url}/account")
    page.get_by_role("button", name="Activate Consumer Finance").click()
    page.wait_for_load_state()
    row = page.locator('tr[data-pack="finance"]')
    assert "Active" in row.inner_text()
    shots.save(page, "my-packs")

    page.goto(f"{server.base_url}/account/try")
    page.get_by_label("Question").fill(finance_question(built_packs))
    page.get_by_role("button", name="Ask").click()
    citation = page.locator(".msg.bot ol.citations a").first
    citation.wait_for()
    assert citation.get_attribute("href", timeout=TIMEOUT_MS).startswith("http")
    assert page.locator(".msg.bot .offer").count() == 0
    shots.save(page, "try-it")


def test_a_visitor_asks_through_the_widget_on_an_allowed_origin_only(
    server: LiveServer,
    page: Any,
    shots: Screenshots,
    allowed_site: Site,
    other_site: Site,
    built_packs: Any,
) -> None:
    # The business (it owns only the free support pack) makes a key for its own site.
    browser_sign_in(page, server, server.create_account("customer", "Acme Shop"))
    page.goto(f"{server.base_url}/account/widget-keys")
    page.get_by_label("Label").fill("main site")
    page.get_by_label("Allowed origins (one per line)").fill(allowed_site.origin)
    page.get_by_role("button", name="Create widget key").click()
    page.wait_for_load_state()
    widget_key = page.locator("[data-key]").first.get_attribute("data-key")
    assert widget_key and widget_key.startswith("pk_")
    shots.save(page, "widget-keys")
    page.goto(f"{server.base_url}/account/insights?period=day")
    assert page.locator('tr[data-missed="finance"]').count() == 0

    visitor = page.context.browser.new_context(viewport={"width": 1000, "height": 760})
    visitor.set_default_timeout(TIMEOUT_MS)
    site_page = visitor.new_page()
    site_page.goto(allowed_site.page("index.html", embed_page(server, widget_key)))
    # Keyboard only: Tab to the launcher, Enter opens the chat with the focus in its input.
    site_page.keyboard.press("Tab")
    site_page.keyboard.press("Enter")
    site_page.keyboard.type("Hello there!")
    site_page.keyboard.press("Enter")
    question = site_page.get_by_label("Your question")
    first = site_page.locator('.msg.bot[data-state="done"]').first
    first.wait_for()
    assert first.inner_text().strip()
    first.get_by_role("button", name="Helpful", exact=True).click()
    first.get_by_text("Thanks for your feedback.").wait_for()
    # A question for a pack the business does not own: no offer, the out-of-scope reply.
    question.fill(finance_question(built_packs))
    question.press("Enter")
    second = site_page.locator('.msg.bot[data-state="done"]').nth(1)
    second.wait_for()
    reply = second.inner_text()
    assert "can't help with that here" in reply
    assert "buy" not in reply.lower() and "Consumer Finance" not in reply
    shots.save(site_page, "widget")

    refused_page = visitor.new_page()
    refused_page.goto(other_site.page("index.html", embed_page(server, widget_key)))
    refused_page.get_by_role("button", name="Ask us").click()
    refused_page.get_by_label("Your question").fill("Hello there!")
    refused_page.get_by_label("Your question").press("Enter")
    refused = refused_page.locator('.msg.bot[data-state="refused"]')
    refused.wait_for()
    assert "not available on this site" in refused.inner_text()
    visitor.close()

    # The business sees the missed demand go up.
    page.goto(f"{server.base_url}/account/insights?period=day")
    missed = page.locator('tr[data-missed="finance"] td.count').first
    assert missed.inner_text() == "1"
    shots.save(page, "insights")


def test_a_publisher_uploads_a_pack_and_an_admin_approves_it(
    server: LiveServer, browser: Any, shots: Screenshots, pet_pack: Any
) -> None:
    publisher_key = server.create_account("publisher", "Example Pets Ltd")
    account_id = server.call(server.app.state.services.accounts.authenticate(publisher_key))
    registration = key_registration(
        pet_pack.public_key, pet_pack.private_key, account_id.account_id
    )
    publisher = browser.new_context(viewport={"width": 1100, "height": 800})
    publisher.set_default_timeout(TIMEOUT_MS)
    page = publisher.new_page()
    browser_sign_in(page, server, publisher_key)
    assert page.url.endswith("/publisher")
    page.get_by_label("Public key (PEM)").fill(registration["public_key"])
    page.get_by_label(re.compile("^Proof")).fill(registration["signature"])
    page.get_by_role("button", name="Register key").click()
    page.wait_for_load_state()
    assert "registered" in page.locator(".flash").inner_text()
    # A paid pack is approved only for a publisher that can receive payouts (issue 19): the
    # local provider's TEST MODE onboarding, from the console.
    page.get_by_role("button", name="Set up payouts").click()
    page.get_by_role("button", name="Complete test onboarding").click()
    page.wait_for_load_state()
    page.goto(f"{server.base_url}/publisher")
    assert "enabled" in page.locator("#earnings-h + p").inner_text()
    page.get_by_label("Pack archive").set_input_files(str(Path(pet_pack.archive)))
    page.get_by_role("button", name="Upload").click()
    status = page.locator('tr[data-pack="pet-care"] td.status')
    status.wait_for()
    assert status.inner_text() == "pending"

    admin = browser.new_context(viewport={"width": 1100, "height": 900})
    admin.set_default_timeout(TIMEOUT_MS)
    admin_page = admin.new_page()
    browser_sign_in(admin_page, server, server.create_account("admin", "Operator"))
    review = admin_page.locator('article.review[data-pack="pet-care"]')
    assert "Written for the PackDesk test suite." in review.inner_text()  # attribution
    assert pet_pack.key_id in review.inner_text()  # the signing key
    shots.save(admin_page, "admin-review")
    admin_page.get_by_role("button", name="Approve pet-care 1.0.0").click()
    admin_page.wait_for_load_state()
    assert "approve done" in admin_page.locator(".flash").inner_text()
    admin.close()

    # A business buys it (through the API, as curl would): the publisher sees the sale.
    customer = bearer(server.create_account("customer", "Pet Shop"))
    checkout = httpx.post(
        f"{server.base_url}/v1/checkout", json={"pack_id": "pet-care"}, headers=customer
    )
    assert checkout.status_code == 201, checkout.text
    assert httpx.post(checkout.json()["checkout_url"]).status_code == 303

    page.reload()
    assert page.locator('tr[data-pack="pet-care"] td.status').inner_text() == "approved"
    assert page.locator('tr[data-currency="usd"] td.net').inner_text() == "4.00"  # 5.00 - 20%
    shots.save(page, "publisher-console")
    page.goto(server.base_url + "/")
    assert page.get_by_role("link", name="Pet Care").is_visible()
    publisher.close()
