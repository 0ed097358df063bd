"""widget (issue 15): where a live-chat client was last seen on the site, structured

Revision ID: 0011_client_visitor
Revises: 0010_panel
Create Date: 2026-12-07 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_client_visitor"
down_revision = "0010_panel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("visitor")
