"""refresh lease on connections; per-user usage slots

Revision ID: 0004
Revises: 0006
Create Date: 2026-12-07 01:30:00

The refresh of a connection is single-flight across backend processes through a lease on its
row (owner, expiry) instead of a transaction held open across the provider call. Per-user
limits (reports in flight, provider calls for checks and imports) count rows of `usage_slots`,
so every backend process sees the same counts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "usage_slots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usage_slots", schema=None) as batch_op:
        batch_op.create_index("ix_usage_slots_user_kind", ["user_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_slots_user_kind")
    op.drop_table("usage_slots")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
