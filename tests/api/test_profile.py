"""``GET/PUT /v1/me/profile`` and ``packdesk profile``: the business profile that reply
templates are rendered from (issue 13, point 1)."""

from __future__ import annotations

from click.testing import CliRunner

from api.cli import build_cli
from api.context import CliContext
from tests.api.conftest import bearer

PROFILE = {
    "business_name": "Shop Example",
    "website": "shop.example",
    "support_email": "help@shop.example",
    "support_phone": "+1 555 0100",
    "support_hours": "Monday to Friday, 9:00 to 17:00",
    "live_chat": "live chat at shop.example/help",
}
EMPTY = dict.fromkeys(PROFILE)
HUMAN = "I want to talk to a human agent"


def test_profile_round_trip_and_validation(client, accounts) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    assert client.get("/v1/me/profile", headers=customer).json() == EMPTY
    saved = client.put("/v1/me/profile", json=PROFILE, headers=customer)
    assert saved.status_code == 200 and saved.json() == PROFILE
    assert client.get("/v1/me/profile", headers=customer).json() == PROFILE

    for bad in ({"support_email": "not an email"}, {"support_phone": "call me"},
                {"website": "x" * 201}, {"colour": "blue"}, {"business_name": "a\nb"}):
        refused = client.put("/v1/me/profile", json=bad, headers=customer)
        assert refused.status_code in (400, 422), (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/me/profile", headers=customer).json() == PROFILE  # unchanged

    publisher = bearer(accounts.create("publisher"))
    assert client.get("/v1/me/profile", headers=publisher).status_code == 403


def test_templates_are_rendered_from_the_callers_profile(client, accounts) -> None:  # type: ignore[no-untyped-def]
    customer = bearer(accounts.create("customer"))
    other = bearer(accounts.create("customer"))
    before = client.post("/v1/ask", json={"question": HUMAN}, headers=customer).json()
    assert before["composed_by"] == "template", before
    assert "{{" not in before["text"] and "}}" not in before["text"]

    client.put("/v1/me/profile", json=PROFILE, headers=customer)
    after = client.post("/v1/ask", json={"question": HUMAN}, headers=customer).json()
    assert "shop.example" in after["text"] and "{{" not in after["text"]
    # another business's answer never shows this one's profile
    theirs = client.post("/v1/ask", json={"question": HUMAN}, headers=other).json()
    assert "shop.example" not in theirs["text"]


def test_cli_sets_and_shows_a_profile(client, accounts, api_settings) -> None:  # type: ignore[no-untyped-def]
    key = accounts.create("customer")
    account_id = client.blocking_portal.call(
        client.app.state.services.accounts.authenticate, key
    ).account_id
    root, obj = build_cli(), CliContext(settings_override=api_settings)
    runner = CliRunner()
    changed = runner.invoke(root, ["profile", "set", account_id, "--website", "cli.example",
                                   "--support-hours", "24/7"], obj=obj)
    assert changed.exit_code == 0, changed.output
    shown = runner.invoke(root, ["profile", "show", account_id], obj=obj)
    assert "website: cli.example" in shown.output and "support_email: (not set)" in shown.output
    refused = runner.invoke(
        root, ["profile", "set", account_id, "--support-email", "nope"], obj=obj
    )
    # `packdesk` (api.cli.main) prints a PackDeskError as one line and exits 1
    assert refused.exit_code != 0 and "support_email" in str(refused.exception)
    unknown = runner.invoke(root, ["profile", "show", "acc_missing"], obj=obj)
    assert unknown.exit_code != 0


def test_a_templated_answer_reads_the_profile_once_until_it_changes(  # type: ignore[no-untyped-def]
    client, accounts, monkeypatch
) -> None:
    customer = bearer(accounts.create("customer"))
    profiles = client.app.state.services.profiles
    reads: list[str] = []
    original = profiles.get

    async def counting(account_id: str):  # type: ignore[no-untyped-def]
        reads.append(account_id)
        return await original(account_id)

    monkeypatch.setattr(profiles, "get", counting)
    for _ in range(3):
        client.post("/v1/ask", json={"question": HUMAN}, headers=customer)
    assert len(reads) == 1  # the values are kept like an access decision
    client.put("/v1/me/profile", json=PROFILE, headers=customer)
    after = client.post("/v1/ask", json={"question": HUMAN}, headers=customer).json()
    assert "shop.example" in after["text"]  # the change is seen at once
