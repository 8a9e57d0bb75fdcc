"""the web: browser sessions, widget keys, visitor demand (issue 17)

``browser_sessions``: server-side sessions of signed-in browsers, keyed by the SHA-256 of the
session id. ``widget_keys``: publishable ``pk_...`` keys with their allowed origins.
``visitor_questions``: one row per widget question (intent, handoff, the pack it needed that the
business lacks, and then the encrypted redacted question as an example).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 19:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_hash"),
    )
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])
    op.create_table(
        "widget_keys",
        sa.Column("widget_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("widget_key"),
    )
    op.create_index("ix_widget_keys_account_id", "widget_keys", ["account_id"])
    op.create_table(
        "visitor_questions",
        sa.Column("question_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("widget_key", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intent_label", sa.String(length=160), nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("missed_pack_id", sa.String(length=64), nullable=True),
        sa.Column("example_token", sa.Text(), nullable=True),
        sa.Column("conversation_id", sa.String(length=40), nullable=True),
        sa.Column("visitor_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("question_id"),
    )
    op.create_index(
        "ix_visitor_questions_account_at", "visitor_questions", ["account_id", "asked_at"]
    )
    op.create_index(
        "ix_visitor_questions_conversation_id", "visitor_questions", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_visitor_questions_conversation_id", table_name="visitor_questions")
    op.drop_index("ix_visitor_questions_account_at", table_name="visitor_questions")
    op.drop_table("visitor_questions")
    op.drop_index("ix_widget_keys_account_id", table_name="widget_keys")
    op.drop_table("widget_keys")
    op.drop_index("ix_browser_sessions_expires_at", table_name="browser_sessions")
    op.drop_table("browser_sessions")
