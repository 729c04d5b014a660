"""有帮助 / 没帮助 feedback on the bot's answers (web widget).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("answer_digest", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_answer_feedback"),
    )
    op.create_index("ix_answer_feedback_created_at", "answer_feedback", ["created_at"])
    op.create_index(
        "uq_answer_feedback_session_answer",
        "answer_feedback",
        ["session_id", "answer_digest"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("answer_feedback")
