"""scale: the shared API rate limit, the retention index, the indexes the list plans ask for

Revision ID: 0005_scale
Revises: 0004_email_conversations
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_scale"
down_revision = "0004_email_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_rate_windows",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_api_rate_windows_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "token_hash", "window_start", name=op.f("pk_api_rate_windows")
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_status", "webhook_deliveries", ["status", "id"], unique=False
    )
    # What the list plans ask for (docs/scaling.md, bench/api.py --postgres): each led by
    # company_id, so that a page is read in order from the index without a sort.
    op.drop_index("ix_dialogs_company_last", table_name="dialogs")
    for name, table, columns in NEW_INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.drop_index("ix_clients_company_id", table_name="clients")


NEW_INDEXES = [
    ("ix_dialogs_company_last_id", "dialogs", ["company_id", "last_message_at", "id"]),
    ("ix_dialogs_company_client", "dialogs", ["company_id", "client_id", "channel_id"]),
    ("ix_requests_company_dialog", "requests", ["company_id", "dialog_id"]),
    ("ix_messages_company_dialog", "messages", ["company_id", "dialog_id", "id"]),
    ("ix_attachments_company_message", "attachments", ["company_id", "message_id"]),
    ("ix_clients_company_id_id", "clients", ["company_id", "id"]),
    ("ix_client_identities_company_client", "client_identities", ["company_id", "client_id"]),
]


def downgrade() -> None:
    op.create_index("ix_clients_company_id", "clients", ["company_id"], unique=False)
    for name, table, _columns in reversed(NEW_INDEXES):
        op.drop_index(name, table_name=table)
    op.create_index(
        "ix_dialogs_company_last", "dialogs", ["company_id", "last_message_at"], unique=False
    )
    op.drop_index("ix_webhook_deliveries_status", table_name="webhook_deliveries")
    op.drop_table("api_rate_windows")
