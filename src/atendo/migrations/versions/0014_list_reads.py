"""list reads (issue 19 part 3, issue 20 part 5): the index ``GET /v1/clients`` asks for.

- ``clients (company_id, id) WHERE merged_into_id IS NULL``: the list's page (a company's
  clients in id order, merged ones left out) and its capped count read from this index alone;
  the count scanned the table (``merged_into_id`` is not in ``ix_clients_company_id_id``, so
  an index read would visit the heap for every entry) — 10,021 rows and 114 pages per request
  at 100,000 clients.

Revision ID: 0014_list_reads
Revises: 0013_api_indexes
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_list_reads"
down_revision = "0013_api_indexes"
branch_labels = None
depends_on = None

UNMERGED = sa.text("merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_clients_company_unmerged",
        "clients",
        ["company_id", "id"],
        unique=False,
        postgresql_where=UNMERGED,
        sqlite_where=UNMERGED,
    )


def downgrade() -> None:
    op.drop_index("ix_clients_company_unmerged", table_name="clients")
