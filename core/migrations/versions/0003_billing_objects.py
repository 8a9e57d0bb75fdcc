"""billing_objects (tombstones and order of provider events) and checkout_orders.price_ref

Issue 14: a refund or a subscription's end that arrives before the checkout's completion, or a
stale subscription update after its end, must not grant a pack.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``billing_objects``; add ``checkout_orders.price_ref``."""
    op.create_table(
        "billing_objects",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_ref", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "kind", "object_ref"),
    )
    with op.batch_alter_table("checkout_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_ref", sa.String(length=255), nullable=True))


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    with op.batch_alter_table("checkout_orders", schema=None) as batch_op:
        batch_op.drop_column("price_ref")
    op.drop_table("billing_objects")
