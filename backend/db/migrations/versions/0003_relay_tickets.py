"""backend relay: parked grants, relay tickets, the sweeper's lease

Revision ID: 0003
Revises: 0004
Create Date: 2026-12-07 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grant_ct", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ticket_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("ticket_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("sweep_owner", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("sweep_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("sweep_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(batch_op.f("ix_flows_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flows_status"))
        batch_op.drop_column("sweep_attempts")
        batch_op.drop_column("sweep_until")
        batch_op.drop_column("sweep_owner")
        batch_op.drop_column("ticket_expires_at")
        batch_op.drop_column("ticket_hash")
        batch_op.drop_column("grant_ct")
