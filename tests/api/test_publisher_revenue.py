"""Publisher revenue through the HTTP API and the CLI, with the local (TEST MODE) provider:
publish, onboard, approve, sell, refund, statement; and each refusal on the way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import build_cli
from api.context import CliContext
from core.ledger.models import EarningsEntry, PayoutAccount, ProcessedBillingEvent
from tests.api.conftest import bearer, enable_payouts, register_publisher_key


def account_id_of(client: Any, api_key: str) -> str:
    services = client.app.state.services
    return str(client.blocking_portal.call(services.accounts.authenticate, api_key).account_id)


def count(client: Any, table: Any) -> int:
    services = client.app.state.services

    async def read() -> int:
        async with services.db.read() as session:
            return int((await session.execute(select(func.count()).select_from(table))).scalar())

    return int(client.blocking_portal.call(read))


def buy(client: Any, customer: str, pack_id: str) -> str:
    """A local checkout, confirmed; returns its session id."""
    checkout = client.post("/v1/checkout", json={"pack_id": pack_id}, headers=bearer(customer))
    assert checkout.status_code == 201, checkout.text
    session_id = str(checkout.json()["session_id"])
    path = checkout.json()["checkout_url"].removeprefix("http://testserver.local")
    assert client.post(path, follow_redirects=False).status_code == 303
    return session_id


def owns(client: Any, customer: str, pack_id: str) -> bool:
    rows = client.get("/v1/entitlements", headers=bearer(customer)).json()
    return any(row["pack_id"] == pack_id and row["readable"] for row in rows)


def test_publish_onboard_sell_refund_statement(client, accounts, pet_pack, api_settings) -> None:
    publisher, admin = accounts.create("publisher"), accounts.create("admin")
    ann, bob = accounts.create("customer"), accounts.create("customer")
    publisher_id = account_id_of(client, publisher)
    register_publisher_key(client, publisher, pet_pack.public_key, pet_pack.private_key)
    upload = client.post(
        "/v1/publisher/packs", content=pet_pack.archive.read_bytes(), headers=bearer(publisher)
    )
    assert upload.status_code == 201, upload.text
    approve = f"/v1/admin/packs/{pet_pack.pack_id}/versions/{pet_pack.version}/approve"

    # A paid pack of a publisher who cannot receive payouts is not approved, and stays pending.
    refused = client.post(approve, headers=bearer(admin))
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/payouts-not-enabled")
    assert "has not started payout onboarding" in refused.json()["detail"]
    status = client.get("/v1/publisher/payouts", headers=bearer(publisher)).json()
    assert (status["onboarding_started"], status["can_receive_payouts"]) == (False, False)
    assert status["fee_bps"] == 2000 and status["test_mode"] is True

    started = client.post("/v1/publisher/payouts/onboarding", headers=bearer(publisher))
    assert started.status_code == 201, started.text
    link = started.json()["url"]
    account_ref = started.json()["status"]["account_ref"]
    assert account_ref.startswith("acct_test_local_") and link.endswith(account_ref)
    again = client.post("/v1/publisher/payouts/onboarding", headers=bearer(publisher))
    assert again.json()["status"]["account_ref"] == account_ref  # one account per publisher
    refused = client.post(approve, headers=bearer(admin))
    assert refused.status_code == 409 and "not completed" in refused.json()["detail"]
    listed = client.get("/v1/publisher/packs", headers=bearer(publisher)).json()
    assert [row["status"] for row in listed] == ["pending"]

    path = link.removeprefix("http://testserver.local")
    page = client.get(path)
    assert page.status_code == 200 and "TEST MODE" in page.text
    assert client.post(path, follow_redirects=False).status_code == 303
    status = client.get("/v1/publisher/payouts", headers=bearer(publisher)).json()
    assert status["details_submitted"] and status["payouts_enabled"] and status["charges_enabled"]
    assert status["can_receive_payouts"]

    fee = client.put(
        f"/v1/admin/platform-fees/{publisher_id}", json={"fee_bps": 1000}, headers=bearer(admin)
    )
    assert fee.status_code == 200 and fee.json()["fee_bps"] == 1000, fee.text
    fees = client.get("/v1/admin/platform-fees", headers=bearer(admin)).json()
    assert [(f["publisher_account_id"], f["fee_bps"]) for f in fees] == [
        (None, 2000), (publisher_id, 1000)
    ]
    assert client.post(approve, headers=bearer(admin)).status_code == 200

    # Two sales of 5.00 USD at a 10% fee; Bob's is refunded in full.
    buy(client, ann, "pet-care")
    bob_session = buy(client, bob, "pet-care")
    assert owns(client, ann, "pet-care") and owns(client, bob, "pet-care")
    refund = client.post(f"/v1/admin/orders/{bob_session}/refund", headers=bearer(admin))
    assert refund.status_code == 200, refund.text
    assert refund.json()["test_mode"] and "1 entitlement(s) revoked" in refund.json()["outcome"]
    again = client.post(f"/v1/admin/orders/{bob_session}/refund", headers=bearer(admin))
    assert again.status_code == 409  # refunded already: not paid any more
    assert owns(client, ann, "pet-care") and not owns(client, bob, "pet-care")

    statement = client.get("/v1/publisher/earnings", headers=bearer(publisher))
    assert statement.status_code == 200, statement.text
    body = statement.json()
    total = {"currency": "usd", "sold": 1000, "returned": 500, "gross": 500, "fee": 50,
             "net": 450, "sales": 2, "returns": 1}
    assert body["totals"] == [total]
    assert body["per_pack"] == [{"pack_id": "pet-care", **total}]
    month = datetime.now(UTC).strftime("%Y-%m")
    assert body["per_month"] == [{"month": month, **total}]
    assert body["entries"] == 3
    assert body["publisher_account_id"] == publisher_id
    as_admin = client.get(f"/v1/admin/publishers/{publisher_id}/earnings", headers=bearer(admin))
    assert as_admin.json()["totals"] == [total]

    # The same statement from the CLI, as CSV.
    result = CliRunner().invoke(
        build_cli(),
        ["publisher", "statement", publisher_id, "--month", month, "--csv"],
        obj=CliContext(settings_override=api_settings),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("occurred_at,kind,pack_id,currency,gross,fee,net")
    kinds = [line.split(",")[1] for line in lines[1:-1]]
    assert sorted(kinds) == ["refund", "sale", "sale"]
    assert lines[-1].split(",")[:7] == ["TOTAL", "", "", "usd", "500", "50", "450"]
    rows = [line.split(",") for line in lines[1:-1]]
    assert sum(int(r[4]) for r in rows) == 500 and sum(int(r[6]) for r in rows) == 450


def test_refusals_leave_nothing_behind(client, accounts) -> None:
    publisher, admin, customer = (
        accounts.create("publisher"), accounts.create("admin"), accounts.create("customer")
    )
    customer_id = account_id_of(client, customer)
    events_before = count(client, ProcessedBillingEvent)

    # Scopes: publisher routes need a publisher key, fees an admin key.
    assert client.get("/v1/publisher/payouts", headers=bearer(customer)).status_code == 403
    assert client.get("/v1/publisher/earnings").status_code == 401
    assert client.get("/v1/admin/platform-fees", headers=bearer(publisher)).status_code == 403
    # A stranger's onboarding link: no such account, nothing recorded.
    unknown = client.post("/v1/billing/local/onboarding/acct_test_local_nope")
    assert unknown.status_code == 404
    assert client.get("/v1/billing/local/onboarding/acct_test_local_nope").status_code == 404
    # Fees: bounded, and only for publishers.
    for body in ({"fee_bps": 10001}, {"fee_bps": -1}, {"fee_bps": "ten"}, {"fee_bps": False},
                 {"fee_bps": "10"}, {"fee_bps": 10.5}, {"fee": 5}):
        bad = client.put("/v1/admin/platform-fees/default", json=body, headers=bearer(admin))
        assert bad.status_code == 422, (body, bad.text)
    not_publisher = client.put(
        f"/v1/admin/platform-fees/{customer_id}", json={"fee_bps": 5}, headers=bearer(admin)
    )
    assert not_publisher.status_code == 404
    assert [f["publisher_account_id"] for f in
            client.get("/v1/admin/platform-fees", headers=bearer(admin)).json()] == [None]
    # Statement periods: ordered, at most 366 days, real dates.
    for query in ("from=2026-05-02&to=2026-05-01", "from=2024-01-01&to=2026-01-01",
                  "from=2026-02-30", "to=yesterday"):
        bad = client.get(f"/v1/publisher/earnings?{query}", headers=bearer(publisher))
        assert bad.status_code == 422, (query, bad.text)
        assert bad.json()["type"].endswith("/invalid-input")
    empty = client.get(
        "/v1/publisher/earnings?from=2026-01-01&to=2026-12-31", headers=bearer(publisher)
    )
    assert empty.status_code == 200 and empty.json()["totals"] == []
    # Test refunds: unknown order 404.
    unknown = client.post("/v1/admin/orders/lcs_test_nope/refund", headers=bearer(admin))
    assert unknown.status_code == 404
    assert count(client, ProcessedBillingEvent) == events_before
    assert count(client, PayoutAccount) == 0 and count(client, EarningsEntry) == 0


def test_an_approved_pack_whose_publisher_lost_payouts_is_not_sold(
    client, accounts, pet_pack
) -> None:
    """The payout state is checked again at checkout: a destination charge to an account that
    cannot receive it would fail at Stripe, so it is refused before one is opened."""
    publisher, admin, customer = (
        accounts.create("publisher"), accounts.create("admin"), accounts.create("customer")
    )
    register_publisher_key(client, publisher, pet_pack.public_key, pet_pack.private_key)
    client.post("/v1/publisher/packs", content=pet_pack.archive.read_bytes(),
                headers=bearer(publisher))
    status = enable_payouts(client, publisher)
    approve = f"/v1/admin/packs/{pet_pack.pack_id}/versions/{pet_pack.version}/approve"
    assert client.post(approve, headers=bearer(admin)).status_code == 200
    services = client.app.state.services
    publisher_id = account_id_of(client, publisher)

    async def disable() -> None:  # as an account.updated would, Stripe having disabled payouts
        async with services.db.write() as session:
            row = await session.get(PayoutAccount, publisher_id)
            row.payouts_enabled = False

    client.blocking_portal.call(disable)
    refused = client.post("/v1/checkout", json={"pack_id": "pet-care"}, headers=bearer(customer))
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/payouts-not-enabled")
    assert status["account_ref"].startswith("acct_test_local_")
