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
from core.ledger.billing import choose_billing_provider
from core.ledger.entitlements import EntitlementService
from core.ledger.fulfilment import BillingService
from core.ledger.models import CheckoutOrder, Entitlement, ProcessedBillingEvent
from core.plugin_manager import get_plugin_manager
from plugins.local_billing import LocalBilling, packdesk_billing_providers
from tests.core.ledger.conftest import accounts, catalog, db  # noqa: F401 - fixtures


@pytest.fixture
async def billing(db, catalog):  # noqa: F811
    return BillingService(
        db, LocalBilling(db.settings), catalog=catalog, entitlements=EntitlementService(db)
    )


def test_local_is_the_default_and_refused_with_a_stripe_key(settings):
    manager = get_plugin_manager()
    providers = [
        p for found in manager.hook.packdesk_billing_providers(settings=settings) for p in found
    ]
    chosen = choose_billing_provider(providers)
    assert chosen.name == "local" and chosen.test_mode
    keyed = settings.model_copy(update={"stripe_api_key": SecretStr("sk_test_x")})
    assert packdesk_billing_providers(settings=keyed) == []
    providers = [
        p for found in manager.hook.packdesk_billing_providers(settings=keyed) for p in found
    ]
    assert choose_billing_provider(providers).name == "stripe"


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
