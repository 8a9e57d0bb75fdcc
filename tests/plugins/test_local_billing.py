"""The local test-mode provider: checkout -> confirm grants through the one fulfilment path."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from core.errors import ConfigError, Conflict, NotFound, PackNotFound
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import CheckoutOrder, Entitlement, ProcessedBillingEvent
from core.plugin_manager import get_plugin_manager
from core.settings import Settings
from plugins.local_billing import LocalBilling, packdesk_billing_providers
from tests.core.ledger.conftest import accounts, catalog, db  # noqa: F401 - fixtures


@pytest.fixture
async def billing(db, catalog):  # noqa: F811
    db.settings.billing_provider = "local"  # chosen explicitly, as an operator must
    return BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=EntitlementService(db)
    )


# --- which provider runs: never the test-mode one by accident (issue 14, defect 7) ------------
def chosen(settings: Settings):
    """The provider the app would start with (the composition root's choice)."""
    from api.services import choose_billing_provider

    return choose_billing_provider(settings, get_plugin_manager())


def with_(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)


STRIPE_KEY = SecretStr("sk_test_x")
STRIPE_SECRET = SecretStr("whsec_x")


def test_nothing_configured_refuses_to_start(settings):
    """A missing (or misspelt, so unread) Stripe setting no longer falls back to test mode."""
    with pytest.raises(ConfigError, match="PACKDESK_BILLING_PROVIDER") as raised:
        chosen(with_(settings, billing_provider=None))
    assert "local" in str(raised.value) and "stripe" in str(raised.value)


def test_local_must_be_chosen_and_says_so(settings, caplog):
    with caplog.at_level("INFO"):
        provider = chosen(with_(settings, billing_provider="local"))
    assert provider.name == "local" and provider.test_mode
    assert "TEST MODE billing: anyone can confirm purchases without paying" in caplog.text
    with pytest.raises(ConfigError, match="PACKDESK_BILLING_PROVIDER"):
        LocalBilling(with_(settings, billing_provider=None))


def test_a_stripe_key_selects_stripe_when_unset(settings, caplog):
    keyed = with_(settings, stripe_api_key=STRIPE_KEY, stripe_webhook_secret=STRIPE_SECRET)
    with caplog.at_level("INFO"):
        assert chosen(keyed).name == "stripe"
    assert "billing provider: stripe" in caplog.text
    assert packdesk_billing_providers(settings=keyed) == []
    assert chosen(with_(keyed, billing_provider="stripe")).name == "stripe"


@pytest.mark.parametrize(
    "changes,missing",
    [
        ({"billing_provider": "stripe"}, "PACKDESK_STRIPE_API_KEY"),
        ({"billing_provider": "stripe", "stripe_api_key": STRIPE_KEY},
         "PACKDESK_STRIPE_WEBHOOK_SECRET"),
        ({"stripe_api_key": STRIPE_KEY}, "PACKDESK_STRIPE_WEBHOOK_SECRET"),
        ({"billing_provider": "local", "stripe_api_key": STRIPE_KEY}, "PACKDESK_STRIPE_API_KEY"),
    ],
    ids=["stripe-without-key", "stripe-without-secret", "key-without-secret", "local-with-key"],
)
def test_incomplete_or_contradictory_settings_refuse_to_start(settings, changes, missing):
    with pytest.raises(ConfigError, match=missing):
        chosen(with_(settings, **changes))


def test_a_misspelt_provider_is_refused(settings):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'stripe' or 'local'"):
        Settings(_env_prefix="PACKDESK_TEST_UNUSED_", data_dir=settings.data_dir,
                 billing_provider="strpe")


def test_packdesk_run_chooses_local_loudly_when_nothing_is_configured(settings, monkeypatch):
    """`make run` keeps working on a fresh checkout, and says it is in test mode."""
    import uvicorn
    from click.testing import CliRunner

    from api.cli import build_cli
    from api.commands import serve
    from api.context import CliContext

    served: list[Settings] = []
    monkeypatch.setattr(serve, "_prepare", lambda obj, *, skip_intents: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    for configured, expected in ((None, "local"), ("local", "local")):
        obj = CliContext(settings_override=with_(settings, billing_provider=configured))
        result = CliRunner().invoke(build_cli(), ["run"], obj=obj)
        assert result.exit_code == 0, result.output
        assert obj.settings.billing_provider == expected
        assert "TEST MODE billing: anyone can confirm purchases without paying" in result.output
    keyed = with_(settings, stripe_api_key=STRIPE_KEY, stripe_webhook_secret=STRIPE_SECRET)
    obj = CliContext(settings_override=keyed)
    result = CliRunner().invoke(build_cli(), ["run"], obj=obj)
    assert result.exit_code == 0, result.output
    assert obj.settings.billing_provider is None  # stripe, chosen by its key at startup
    assert "TEST MODE" not in result.output
    assert len(served) == 3


async def test_checkout_then_confirm_grants_once(db, accounts, billing):  # noqa: F811
    account, _ = await accounts.create_account("Ann", "customer")
    session = await billing.start_checkout(account.account_id, "finance")
    assert session.test_mode and session.session_id.startswith("lcs_test_")
    assert session.checkout_url == (
        f"http://127.0.0.1:8000/v1/billing/local/checkout/{session.session_id}"
    )
    entitlements = EntitlementService(db)
    assert not await entitlements.may_read(account.account_id, "finance")
    outcomes = await asyncio.gather(
        *(billing.confirm_checkout(session.session_id) for _ in range(5))
    )
    assert [o.outcome for o in outcomes if not o.duplicate] == ["granted"]
    assert await entitlements.may_read(account.account_id, "finance")
    assert (await billing.get_order(session.session_id))["status"] == "paid"
    with pytest.raises(Conflict, match="already owns"):
        await billing.start_checkout(account.account_id, "finance")


@pytest.mark.parametrize("pack_id,error", [("basics", Conflict), ("nope", PackNotFound)])
async def test_checkout_refusals_write_nothing(db, accounts, billing, pack_id, error):  # noqa: F811
    account, _ = await accounts.create_account("Ann", "customer")
    with pytest.raises(error):
        await billing.start_checkout(account.account_id, pack_id)
    async with db.read() as session:
        assert (
            await session.execute(select(func.count()).select_from(CheckoutOrder))
        ).scalar() == 0


async def test_confirming_an_unknown_session_grants_nothing(db, accounts, billing):  # noqa: F811
    with pytest.raises(NotFound):
        await billing.confirm_checkout("lcs_test_forged")
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Entitlement))).scalar() == 0


async def test_a_failed_checkout_is_not_confirmed(db, accounts, billing):  # noqa: F811
    account, _ = await accounts.create_account("Ann", "customer")
    session = await billing.start_checkout(account.account_id, "finance")
    async with db.write() as s:
        (await s.get(CheckoutOrder, session.session_id)).status = "failed"
    with pytest.raises(Conflict, match="failed"):
        await billing.confirm_checkout(session.session_id)
    assert not await EntitlementService(db).may_read(account.account_id, "finance")


async def test_the_local_provider_takes_no_webhooks(db, billing):  # noqa: F811
    with pytest.raises(ConfigError, match="'local' takes no webhooks"):
        await billing.handle_webhook(b'{"id": "evt_1", "type": "x"}', "t=1,v1=00")
    async with db.read() as session:
        count = select(func.count()).select_from(ProcessedBillingEvent)
        assert (await session.execute(count)).scalar() == 0


@pytest.mark.parametrize("module", ["plugins.local_billing", "plugins.stripe_billing"])
def test_providers_never_reach_into_the_ledger(module):
    """Adapters translate; only BillingService (core) reads and writes the ledger."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    ledger = {name for name in imported if name.startswith(("core.ledger", "sqlalchemy"))}
    assert not ledger, ledger
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not names & {"BillingService", "apply", "fulfil", "attach"}, names
