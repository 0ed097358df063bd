"""worker leases: live workers (heartbeat) and a fencing token on each channel's lease

Revision ID: 0003_worker_leases
Revises: 0002_panel_sessions
Create Date: 2026-12-07 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atendo.kit.db

revision = "0003_worker_leases"
down_revision = "0002_panel_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("started", atendo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat", atendo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index("ix_workers_heartbeat", ["heartbeat"], unique=False)
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_token", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_claimed_by", ["claimed_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_claimed_by")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("lease_token")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index("ix_workers_heartbeat")
    op.drop_table("workers")
