"""panel: search index (folded message text), atendo_fold() on PostgreSQL, merged clients

Revision ID: 0010_panel
Revises: 0006_team

* ``message_search``: one row per message, its subject and text folded (``kit.fold``). On
  SQLite an FTS5 table with the trigram tokenizer (``LIKE '%…%'`` uses it); on PostgreSQL a
  table with a ``pg_trgm`` GIN index (when the extension can be created).
* ``client_search``: one row per client: name, phone and addresses folded (same two kinds).
* ``search_progress``: per company, the last message and client ids indexed (the index
  catches up lazily; a client changed through the ORM is re-indexed at flush).
* ``atendo_fold(text)`` on PostgreSQL (SQLite registers it per connection in ``kit.db``).
* ``clients.merged_into_id``: a merged client points at its survivor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from atendo.kit.fold import PG_FROM, PG_TO

revision = "0010_panel"
down_revision = "0006_team"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("clients", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.create_table(
        "search_progress",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("last_message_id", sa.Integer(), nullable=False),
        sa.Column("last_client_id", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("company_id"),
    )
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE message_search USING fts5("
            "body, company_id UNINDEXED, dialog_id UNINDEXED, tokenize='trigram')"
        )
        op.execute(
            "CREATE VIRTUAL TABLE client_search USING fts5("
            "body, company_id UNINDEXED, tokenize='trigram')"
        )
        return
    op.execute(
        f"""CREATE OR REPLACE FUNCTION atendo_fold(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT lower(translate(value, '{PG_FROM}', '{PG_TO}')) $$"""
    )
    op.create_table(
        "message_search",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_message_search_company", "message_search", ["company_id", "dialog_id"])
    op.create_table(
        "client_search",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.execute(
        """DO $$ BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm unavailable: search scans message_search';
        END $$"""
    )
    op.execute(
        """DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
                CREATE INDEX ix_message_search_body ON message_search
                    USING gin (body gin_trgm_ops);
                CREATE INDEX ix_client_search_body ON client_search
                    USING gin (body gin_trgm_ops);
            END IF;
        END $$"""
    )


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DROP TABLE IF EXISTS message_search")
    op.execute("DROP TABLE IF EXISTS client_search")
    if bind.dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS atendo_fold(text)")
    op.drop_table("search_progress")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("merged_into_id")
