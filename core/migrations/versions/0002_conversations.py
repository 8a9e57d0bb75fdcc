"""conversations and their turns (redacted, encrypted text; issue 7)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``conversations`` and ``conversation_turns``."""
    op.create_table(
        "conversations",
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_turn_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversations_last_turn_at"), ["last_turn_at"], unique=False
        )

    op.create_table(
        "conversation_turns",
        sa.Column("turn_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question_token", sa.Text(), nullable=False),
        sa.Column("answer_token", sa.Text(), nullable=False),
        sa.Column("intent_label", sa.String(length=160), nullable=False),
        sa.Column("intent_confidence", sa.Float(), nullable=False),
        sa.Column("out_of_scope", sa.Boolean(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("sentiment_compound", sa.Float(), nullable=False),
        sa.Column("sentiment_label", sa.String(length=10), nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("handoff_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.conversation_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("turn_id"),
    )
    with op.batch_alter_table("conversation_turns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_turns_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_turns_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_turns_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_conversation_turns_handoffs",
            ["account_id", "handoff", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    """Drop the conversation tables (and every stored turn)."""
    with op.batch_alter_table("conversation_turns", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_turns_handoffs")
        batch_op.drop_index(batch_op.f("ix_conversation_turns_created_at"))
        batch_op.drop_index(batch_op.f("ix_conversation_turns_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_turns_account_id"))
    op.drop_table("conversation_turns")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_last_turn_at"))
        batch_op.drop_index(batch_op.f("ix_conversations_account_id"))
    op.drop_table("conversations")
