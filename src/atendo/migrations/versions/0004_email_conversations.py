"""e-mail conversations: Bcc and Reply-To on messages, why a message is hidden, a channel's
held sending (an SMTP login refused), composer drafts per operator and dialog

Revision ID: 0004_email_conversations
Revises: 0008_automation
Create Date: 2026-12-07 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atendo.kit.db

revision = "0004_email_conversations"
down_revision = "0008_automation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bcc", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("reply_to", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("hidden_reason", sa.String(length=40), nullable=True))
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("send_held", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("updated", atendo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_drafts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_drafts_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dialog_id"],
            ["dialogs.id"],
            name=op.f("fk_drafts_dialog_id_dialogs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint(
            "operator_id", "dialog_id", name=op.f("uq_drafts_operator_id_dialog_id")
        ),
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drafts_company_id"), ["company_id"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_company_hidden", ["company_id", "hidden"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_company_hidden")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_company_id"))
    op.drop_table("drafts")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("send_held")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("hidden_reason")
        batch_op.drop_column("reply_to")
        batch_op.drop_column("bcc")
