"""conversation_deletions: when an account deleted its conversation data

Issue 14 (low): a turn already being answered when ``DELETE /v1/me/data`` runs must not be
stored after the deletion.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 18:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_deletions",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("conversation_deletions")
