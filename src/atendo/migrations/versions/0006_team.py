"""team: operator statuses and limits, routing (group rules, channel groups, the queue),
per-operator read state, presence on a chat, named audit entries (the dialog timeline)

Revision ID: 0006_team
Revises: 0005_scale
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import atendo.kit.db

revision = "0006_team"
down_revision = "0009_hardening"
branch_labels = None
depends_on = None

UTC = atendo.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("operators") as t:
        t.add_column(sa.Column("status", sa.String(40), nullable=False, server_default="offline"))
        t.add_column(
            sa.Column("status_source", sa.String(10), nullable=False, server_default="panel")
        )
        t.add_column(sa.Column("status_since", UTC, nullable=True))
        t.add_column(sa.Column("last_activity", UTC, nullable=True))
        t.add_column(sa.Column("max_open_dialogs", sa.Integer(), nullable=True))
        t.add_column(
            sa.Column(
                "new_chats_unavailable", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        t.add_column(
            sa.Column("notifications", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        t.add_column(sa.Column("last_filter", sa.String(300), nullable=False, server_default=""))
    with op.batch_alter_table("operator_groups") as t:
        t.add_column(sa.Column("rule", sa.String(20), nullable=False, server_default="least_busy"))
    with op.batch_alter_table("channels") as t:
        t.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        t.create_foreign_key(
            op.f("fk_channels_group_id_operator_groups"),
            "operator_groups",
            ["group_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("dialogs") as t:
        t.add_column(sa.Column("queued_at", UTC, nullable=True))
        t.create_index(op.f("ix_dialogs_queued_at"), ["queued_at"])
    with op.batch_alter_table("companies") as t:
        t.add_column(
            sa.Column("inactivity_minutes", sa.Integer(), nullable=False, server_default="30")
        )
        t.add_column(
            sa.Column("requeue_on_offline", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("audit_log") as t:
        t.add_column(sa.Column("kind", sa.String(40), nullable=False, server_default=""))
        t.add_column(sa.Column("operator_id", sa.Integer(), nullable=True))
        t.add_column(sa.Column("dialog_id", sa.Integer(), nullable=True))
        t.add_column(sa.Column("details", sa.JSON(), nullable=True))
        t.create_index("ix_audit_log_dialog", ["dialog_id", "id"])

    op.create_table(
        "operator_status_spans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey("companies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "operator_id",
            sa.Integer(),
            sa.ForeignKey("operators.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("started", UTC, nullable=False),
        sa.Column("ended", UTC, nullable=True),
    )
    op.create_index(
        op.f("ix_operator_status_spans_company_id"), "operator_status_spans", ["company_id"]
    )
    op.create_index(
        "ix_operator_status_spans_operator", "operator_status_spans", ["operator_id", "id"]
    )
    op.create_table(
        "operator_custom_statuses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey("companies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("created", UTC, nullable=False),
        sa.UniqueConstraint("company_id", "key", name="uq_operator_custom_statuses_company_id"),
    )
    for name in ("dialog_reads", "chat_presence"):
        columns: list[sa.Column[Any]] = [
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(
                "company_id",
                sa.Integer(),
                sa.ForeignKey("companies.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column(
                "dialog_id",
                sa.Integer(),
                sa.ForeignKey("dialogs.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column(
                "operator_id",
                sa.Integer(),
                sa.ForeignKey("operators.id", ondelete="CASCADE"),
                nullable=False,
            ),
        ]
        if name == "dialog_reads":
            columns.append(sa.Column("last_read_message_id", sa.Integer(), nullable=False))
        else:
            columns.append(sa.Column("state", sa.String(10), nullable=False))
            columns.append(sa.Column("seen_at", UTC, nullable=False))
        op.create_table(
            name,
            *columns,
            sa.UniqueConstraint("dialog_id", "operator_id", name=f"uq_{name}_dialog_id"),
        )
        op.create_index(op.f(f"ix_{name}_company_id"), name, ["company_id"])


def downgrade() -> None:
    for name in (
        "operator_custom_statuses",
        "chat_presence",
        "dialog_reads",
        "operator_status_spans",
    ):
        op.drop_table(name)
    with op.batch_alter_table("audit_log") as t:
        t.drop_index("ix_audit_log_dialog")
        for c in ("details", "dialog_id", "operator_id", "kind"):
            t.drop_column(c)
    with op.batch_alter_table("companies") as t:
        t.drop_column("requeue_on_offline")
        t.drop_column("inactivity_minutes")
    with op.batch_alter_table("dialogs") as t:
        t.drop_index(op.f("ix_dialogs_queued_at"))
        t.drop_column("queued_at")
    with op.batch_alter_table("channels") as t:
        t.drop_constraint(op.f("fk_channels_group_id_operator_groups"), type_="foreignkey")
        t.drop_column("group_id")
    with op.batch_alter_table("operator_groups") as t:
        t.drop_column("rule")
    with op.batch_alter_table("operators") as t:
        for c in (
            "last_filter",
            "notifications",
            "new_chats_unavailable",
            "max_open_dialogs",
            "last_activity",
            "status_since",
            "status_source",
            "status",
        ):
            t.drop_column(c)
