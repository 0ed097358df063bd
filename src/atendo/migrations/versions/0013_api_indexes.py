"""api indexes (issue 19 part 3, issue 20 part 5): what the list plans at 100,000 dialogs ask
for (docs/scaling.md, ``bench/api.py --postgres``).

- ``dialogs (company_id, state, operator_id, queued_at)``: the chat list's counts (each tab's
  and each state's, one grouped query) read from the index alone.
- ``dialogs (company_id, operator_id, last_message_at, id)``: the chat list's "All" tab puts
  the operator's own dialogs first, read as two index-ordered lists (theirs, then the rest)
  instead of sorting every dialog for a page.
- On PostgreSQL with ``pg_trgm``: trigram GIN indexes for ``GET /v1/clients?search=`` (a
  substring of the lowered name, assigned name or address), which no B-tree serves.

Revision ID: 0013_api_indexes
Revises: 0011_client_visitor
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0013_api_indexes"
down_revision = "0011_client_visitor"
branch_labels = None
depends_on = None

TRIGRAM = [
    ("ix_clients_name_trgm", "clients", "lower(name)"),
    ("ix_clients_assigned_name_trgm", "clients", "lower(assigned_name)"),
    ("ix_client_identities_address_trgm", "client_identities", "lower(address)"),
]


def upgrade() -> None:
    op.create_index(
        "ix_dialogs_company_state_operator",
        "dialogs",
        ["company_id", "state", "operator_id", "queued_at"],
        unique=False,
    )
    op.create_index(
        "ix_dialogs_company_operator_last",
        "dialogs",
        ["company_id", "operator_id", "last_message_at", "id"],
        unique=False,
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """DO $$ BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm unavailable: the clients search scans';
        END $$"""
    )
    creates = "\n".join(
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expr} gin_trgm_ops);"
        for name, table, expr in TRIGRAM
    )
    op.execute(
        f"""DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
                {creates}
            END IF;
        END $$"""
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _expr in TRIGRAM:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_dialogs_company_operator_last", table_name="dialogs")
    op.drop_index("ix_dialogs_company_state_operator", table_name="dialogs")
