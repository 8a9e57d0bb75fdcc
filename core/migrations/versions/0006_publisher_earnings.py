"""publisher earnings: connected accounts, platform fees, the earnings ledger (issue 19)

``payout_accounts`` (a publisher's connected account and its status), ``platform_fees`` (the
default and per-publisher fee), ``earnings`` (append-only: database triggers refuse UPDATE and
DELETE, as on ``audit_log``), ``transfer_reversals`` (what the provider still owes to reverse),
and the publisher, destination and fee a checkout order was opened with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 19:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_accounts",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("account_ref", sa.String(length=255), nullable=False),
        sa.Column("details_submitted", sa.Boolean(), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("account_id"),
        sa.UniqueConstraint("provider", "account_ref", name="uq_payout_accounts_ref"),
    )
    op.create_table(
        "platform_fees",
        sa.Column("publisher_account_id", sa.String(length=40), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("publisher_account_id"),
    )
    op.create_table(
        "earnings",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=255), nullable=False),
        sa.Column("publisher_account_id", sa.String(length=40), nullable=False),
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("customer_account_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("net", sa.Integer(), nullable=False),
        sa.Column("order_ref", sa.String(length=255), nullable=True),
        sa.Column("payment_ref", sa.String(length=255), nullable=True),
        sa.Column("charge_ref", sa.String(length=255), nullable=True),
        sa.Column("invoice_ref", sa.String(length=255), nullable=True),
        sa.Column("subscription_ref", sa.String(length=255), nullable=True),
        sa.Column("transfer_ref", sa.String(length=255), nullable=True),
        sa.Column("destination_ref", sa.String(length=255), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
        sa.UniqueConstraint("provider", "kind", "source_ref", name="uq_earnings_source"),
    )
    with op.batch_alter_table("earnings", schema=None) as batch_op:
        batch_op.create_index("ix_earnings_publisher_time", ["publisher_account_id", "occurred_at"])
        batch_op.create_index(batch_op.f("ix_earnings_event_id"), ["event_id"])
        batch_op.create_index(batch_op.f("ix_earnings_payment_ref"), ["payment_ref"])
        batch_op.create_index(batch_op.f("ix_earnings_charge_ref"), ["charge_ref"])
    op.create_table(
        "transfer_reversals",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("charge_ref", sa.String(length=255), nullable=True),
        sa.Column("transfer_ref", sa.String(length=255), nullable=True),
        sa.Column("target_reversed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reversal_ref", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("checkout_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publisher_account_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("destination_ref", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("application_fee", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fee_bps", sa.Integer(), nullable=True))
    _create_earnings_guards()


def _create_earnings_guards() -> None:
    """Make ``earnings`` append-only in the database itself, as ``audit_log`` is."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER earnings_no_{verb.lower()} BEFORE {verb} ON earnings "
                "BEGIN SELECT RAISE(ABORT, 'earnings is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION earnings_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'earnings is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER earnings_append_only BEFORE UPDATE OR DELETE ON earnings "
            "FOR EACH ROW EXECUTE FUNCTION earnings_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS earnings_no_update")
        op.execute("DROP TRIGGER IF EXISTS earnings_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS earnings_append_only ON earnings")
        op.execute("DROP FUNCTION IF EXISTS earnings_append_only()")
    with op.batch_alter_table("checkout_orders", schema=None) as batch_op:
        batch_op.drop_column("fee_bps")
        batch_op.drop_column("application_fee")
        batch_op.drop_column("destination_ref")
        batch_op.drop_column("publisher_account_id")
    op.drop_table("transfer_reversals")
    with op.batch_alter_table("earnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_earnings_charge_ref"))
        batch_op.drop_index(batch_op.f("ix_earnings_payment_ref"))
        batch_op.drop_index(batch_op.f("ix_earnings_event_id"))
        batch_op.drop_index("ix_earnings_publisher_time")
    op.drop_table("earnings")
    op.drop_table("platform_fees")
    op.drop_table("payout_accounts")
