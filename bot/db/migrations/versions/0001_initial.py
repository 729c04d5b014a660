"""Applications, their timelines and the lookup audit.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("applicant_name", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("item", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=True),
        sa.Column("missing_materials", sa.Text(), nullable=True),
        sa.Column("expected_done_at", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
    )
    op.create_index(
        "ix_applications_application_no", "applications", ["application_no"], unique=True
    )

    op.create_table(
        "application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_application_events_application_id_applications",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_application_events"),
        sa.UniqueConstraint(
            "application_id",
            "occurred_at",
            "status",
            name="uq_application_events_application_id_occurred_at_status",
        ),
    )
    op.create_index(
        "ix_application_events_application_id", "application_events", ["application_id"]
    )

    op.create_table(
        "lookup_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("application_no_masked", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lookup_audit"),
    )
    op.create_index("ix_lookup_audit_created_at", "lookup_audit", ["created_at"])
    op.create_index("ix_lookup_audit_conversation_id", "lookup_audit", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_lookup_audit_conversation_id", table_name="lookup_audit")
    op.drop_index("ix_lookup_audit_created_at", table_name="lookup_audit")
    op.drop_table("lookup_audit")
    op.drop_index("ix_application_events_application_id", table_name="application_events")
    op.drop_table("application_events")
    op.drop_index("ix_applications_application_no", table_name="applications")
    op.drop_table("applications")
