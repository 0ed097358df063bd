"""automation: channel settings, menu items, per-dialog state, ratings and scores; the
events' automation trigger column and messages.no_autoreply

Revision ID: 0008_automation
Revises: 0002_panel_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atendo.kit.db

revision = "0008_automation"
down_revision = "0003_worker_leases"
branch_labels = None
depends_on = None

UTC = atendo.kit.db.UTCDateTime


def _fk(column: str, target: str, table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "channel_automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated", UTC(timezone=True), nullable=False),
        _fk("company_id", "companies", "channel_automation", "CASCADE"),
        _fk("channel_id", "channels", "channel_automation", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_automation")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_channel_automation_channel_id")),
    )
    op.create_table(
        "menu_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image", sa.String(length=1000), nullable=True),
        sa.Column("assign_group_id", sa.Integer(), nullable=True),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("url_enabled", sa.Boolean(), nullable=False),
        sa.Column("close", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        _fk("company_id", "companies", "menu_items", "CASCADE"),
        _fk("channel_id", "channels", "menu_items", "CASCADE"),
        _fk("parent_id", "menu_items", "menu_items", "CASCADE"),
        _fk("assign_group_id", "operator_groups", "menu_items", "SET NULL"),
        _fk("tag_id", "tags", "menu_items", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_menu_items")),
    )
    op.create_index("ix_menu_items_channel_parent", "menu_items", ["channel_id", "parent_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("channel_ids", sa.JSON(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("scale", sa.JSON(), nullable=False),
        sa.Column("min_interval_hours", sa.Integer(), nullable=False),
        sa.Column("hide_scores", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created", UTC(timezone=True), nullable=False),
        _fk("company_id", "companies", "ratings", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
    )
    op.create_index(op.f("ix_ratings_company_id"), "ratings", ["company_id"])
    op.create_table(
        "dialog_automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("greeted_at", UTC(timezone=True), nullable=True),
        sa.Column("menu_active", sa.Boolean(), nullable=False),
        sa.Column("menu_parent_id", sa.Integer(), nullable=True),
        sa.Column("menu_request_id", sa.Integer(), nullable=True),
        sa.Column("menu_due", UTC(timezone=True), nullable=True),
        sa.Column("close_due", UTC(timezone=True), nullable=True),
        sa.Column("surveyed_at", UTC(timezone=True), nullable=True),
        sa.Column("survey_rating_id", sa.Integer(), nullable=True),
        sa.Column("survey_request_id", sa.Integer(), nullable=True),
        sa.Column("survey_operator_id", sa.Integer(), nullable=True),
        sa.Column("survey_until", UTC(timezone=True), nullable=True),
        _fk("company_id", "companies", "dialog_automation", "CASCADE"),
        _fk("dialog_id", "dialogs", "dialog_automation", "CASCADE"),
        _fk("client_id", "clients", "dialog_automation", "CASCADE"),
        _fk("channel_id", "channels", "dialog_automation", "CASCADE"),
        _fk("menu_parent_id", "menu_items", "dialog_automation", "SET NULL"),
        _fk("survey_rating_id", "ratings", "dialog_automation", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialog_automation")),
        sa.UniqueConstraint("dialog_id", name=op.f("uq_dialog_automation_dialog_id")),
    )
    op.create_index("ix_dialog_automation_client", "dialog_automation", ["client_id"])
    op.create_index("ix_dialog_automation_menu_due", "dialog_automation", ["menu_due"])
    op.create_index("ix_dialog_automation_close_due", "dialog_automation", ["close_due"])
    op.create_table(
        "request_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=500), nullable=False),
        sa.Column("created", UTC(timezone=True), nullable=False),
        _fk("company_id", "companies", "request_ratings", "CASCADE"),
        _fk("rating_id", "ratings", "request_ratings", "SET NULL"),
        _fk("request_id", "requests", "request_ratings", "CASCADE"),
        _fk("dialog_id", "dialogs", "request_ratings", "CASCADE"),
        _fk("client_id", "clients", "request_ratings", "CASCADE"),
        _fk("channel_id", "channels", "request_ratings", "CASCADE"),
        _fk("operator_id", "operators", "request_ratings", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_ratings")),
        sa.UniqueConstraint("request_id", name="uq_request_ratings_request"),
    )
    op.create_index(
        "ix_request_ratings_company_created", "request_ratings", ["company_id", "created"]
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automation_due", UTC(timezone=True), nullable=True))
        batch_op.create_index("ix_events_automation", ["automation_due"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("no_autoreply", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("buttons", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("buttons")
        batch_op.drop_column("no_autoreply")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_automation")
        batch_op.drop_column("automation_due")
    op.drop_table("request_ratings")
    op.drop_table("dialog_automation")
    op.drop_table("ratings")
    op.drop_table("menu_items")
    op.drop_table("channel_automation")
