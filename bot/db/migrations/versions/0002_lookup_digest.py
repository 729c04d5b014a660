"""Keyed digest of the looked-up application number in the lookup audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lookup_audit") as batch:
        batch.add_column(sa.Column("application_no_digest", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_lookup_audit_application_no_digest", "lookup_audit", ["application_no_digest"]
    )


def downgrade() -> None:
    op.drop_index("ix_lookup_audit_application_no_digest", table_name="lookup_audit")
    with op.batch_alter_table("lookup_audit") as batch:
        batch.drop_column("application_no_digest")
