"""learning from conversations: feedback, handoff resolutions, intent model versions (issue 18)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 19:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "turn_feedback",
        sa.Column("feedback_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("correct_intent", sa.String(length=160), nullable=True),
        sa.Column("comment_token", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["conversation_turns.turn_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("feedback_id"),
        sa.UniqueConstraint("turn_id"),
    )
    op.create_index("ix_turn_feedback_account_id", "turn_feedback", ["account_id"])
    op.create_table(
        "handoff_resolutions",
        sa.Column("resolution_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intent", sa.String(length=160), nullable=False),
        sa.Column("note_token", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["conversation_turns.turn_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("resolution_id"),
        sa.UniqueConstraint("turn_id"),
    )
    op.create_index("ix_handoff_resolutions_account_id", "handoff_resolutions", ["account_id"])
    op.create_table(
        "intent_model_versions",
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parent_version_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("training_config", sa.JSON(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_table(
        "intent_model_chunks",
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("chunk_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["intent_model_versions.version_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("version_id", "path", "chunk_index"),
    )
    op.create_table(
        "intent_model_promotions",
        sa.Column("promotion_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("previous_version_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["intent_model_versions.version_id"]),
        sa.PrimaryKeyConstraint("promotion_id"),
    )
    op.create_index(
        "ix_intent_model_promotions_version_id", "intent_model_promotions", ["version_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_intent_model_promotions_version_id", table_name="intent_model_promotions")
    op.drop_table("intent_model_promotions")
    op.drop_table("intent_model_chunks")
    op.drop_table("intent_model_versions")
    op.drop_index("ix_handoff_resolutions_account_id", table_name="handoff_resolutions")
    op.drop_table("handoff_resolutions")
    op.drop_index("ix_turn_feedback_account_id", table_name="turn_feedback")
    op.drop_table("turn_feedback")
