"""WeChat channel: delivery deduplication, numbered options, the shared access token; and a
ticket's last delivery problem (a staff message WeChat refused), shown in the console.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_inbound",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_wechat_inbound"),
    )
    op.create_index("ix_wechat_inbound_received_at", "wechat_inbound", ["received_at"])
    op.create_table(
        "wechat_followups",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("more", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("openid", name="pk_wechat_followups"),
    )
    op.create_index("ix_wechat_followups_expires_at", "wechat_followups", ["expires_at"])
    op.create_table(
        "wechat_access_tokens",
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.String(length=1024), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("appid", name="pk_wechat_access_tokens"),
    )
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.add_column(sa.Column("delivery_error", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.drop_column("delivery_error")
    op.drop_table("wechat_access_tokens")
    op.drop_table("wechat_followups")
    op.drop_table("wechat_inbound")
