"""hardening (issue 18): an index for the per-channel sending limits

Revision ID: 0009_hardening
Revises: 0005_scale
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_hardening"
down_revision = "0005_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_channel_claimed", ["channel_id", "claimed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_channel_claimed")
