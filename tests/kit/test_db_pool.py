"""The PostgreSQL pool: ATENDO_DB_POOL_SIZE connections per process, never more."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tests.conftest import TemplateDatabase, fresh_runtime

from atendo.kit.db import DEFAULT_POOL_SIZE, WEB_LISTENERS, WORKER_LISTENERS, Database
from atendo.runtime import Runtime
from atendo.settings import Settings


def test_the_default_fits_four_processes_on_a_default_postgresql() -> None:
    # max_connections = 100, 3 reserved for superusers, and a margin for psql and migrations;
    # beside its pool each process holds its listening connections (one per wake-up topic).
    assert Settings().db_pool_size == DEFAULT_POOL_SIZE == 15
    available = 100 - 3 - 10
    web, worker = DEFAULT_POOL_SIZE + WEB_LISTENERS, DEFAULT_POOL_SIZE + WORKER_LISTENERS
    assert 2 * web + 2 * worker <= available  # the README's scale-out: two of each
    assert 4 * worker <= available  # the worst four


def test_a_process_holds_at_most_its_pool_and_then_waits(
    runtime: Runtime, template_database: TemplateDatabase
) -> None:
    if not runtime.db.is_postgres:
        pytest.skip("SQLite has no connection pool to size")
    with fresh_runtime(template_database, db_pool_size=3) as sized:
        assert sized.db.engine.pool.size() == 3
    db = Database(runtime.settings.resolved_database_url, pool_size=2, pool_timeout=0.5)
    try:
        held = [db.engine.connect(), db.engine.connect()]
        with pytest.raises(PoolTimeout):
            db.engine.connect()  # no overflow: the third waits, then gives up
        held[0].close()
        db.engine.connect().close()  # a returned connection is handed out again
        held[1].close()
    finally:
        db.dispose()
