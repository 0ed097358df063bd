"""panel sessions: server-side sign-in sessions of the panel (cookie token stored as SHA-256)

Revision ID: 0002_panel_sessions
Revises: 0001
Create Date: 2026-11-25 17:35:32.055970
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atendo.kit.db

revision = "0002_panel_sessions"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "panel_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("created", atendo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", atendo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires", atendo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_panel_sessions_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_panel_sessions_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_panel_sessions_token_hash")),
    )
    with op.batch_alter_table("panel_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_panel_sessions_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_panel_sessions_expires"), ["expires"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_panel_sessions_operator_id"), ["operator_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("panel_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_panel_sessions_operator_id"))
        batch_op.drop_index(batch_op.f("ix_panel_sessions_expires"))
        batch_op.drop_index(batch_op.f("ix_panel_sessions_company_id"))

    op.drop_table("panel_sessions")
