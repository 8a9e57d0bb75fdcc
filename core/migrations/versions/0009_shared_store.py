"""scale out: the shared store of pack archives, trust keys and model files (issue 15)

Files every node needs and no node keeps alone (core/ledger/shared_files.py): a row per file
and its content in chunks, so a node with an empty data directory can install what the others
serve.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shared_files",
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "shared_file_chunks",
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["name"], ["shared_files.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "seq"),
    )


def downgrade() -> None:
    op.drop_table("shared_file_chunks")
    op.drop_table("shared_files")
