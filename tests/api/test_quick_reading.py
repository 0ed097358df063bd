"""The API's reads (``ctx.read()``): on PostgreSQL in autocommit, so no BEGIN and no ROLLBACK
round trip; anything but a SELECT through them raises."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from atendo.core.clients.models import Client
from atendo.kit.db import WriteInReadOnly
from atendo.runtime import Runtime


def test_a_list_runs_its_selects_and_nothing_else(runtime: Runtime, api: TestClient) -> None:
    if not runtime.db.is_postgres:
        pytest.skip("SQLite reads in a read transaction (WAL)")
    seen: list[tuple[bool, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        autocommit = bool(conn.connection.dbapi_connection.autocommit)
        seen.append((autocommit, statement.split()[0].upper()))

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        assert api.get("/v1/dialogs").status_code == 200
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)
    # the sign-in and count (one statement), then the page's reads: all in autocommit (psycopg
    # sends no BEGIN, and there is nothing to roll back)
    assert seen[0] == (True, "WITH") and {s for s in seen[1:]} == {(True, "SELECT")}, seen


def test_a_write_through_it_raises(runtime: Runtime) -> None:
    if not runtime.db.is_postgres:
        pytest.skip("SQLite reads in a read transaction (WAL)")
    with runtime.db.quick_reading() as session, pytest.raises(WriteInReadOnly):
        session.execute(update(Client).where(Client.company_id == 0).values(comment="x"))
    with runtime.db.quick_reading() as session, pytest.raises(WriteInReadOnly):
        session.add(Client(company_id=0, name="x"))
        session.flush()
