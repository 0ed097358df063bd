"""The per-token rate limit: shared by every process on PostgreSQL, in memory on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import CompanyFixture

from atendo.api.usage import ApiUsage, RateLimited
from atendo.core.companies.models import ApiRateWindow
from atendo.kit.clock import set_clock
from atendo.kit.db import Database
from atendo.runtime import Runtime
from atendo.server import create_app

LIMIT = 3
# Half a minute into a Unix minute: the previous minute then counts for half.
T0 = datetime(2026, 12, 7, 1, 0, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [T0]
    set_clock(lambda: now[0])
    try:
        yield now
    finally:
        set_clock(None)


def _allowed(usage: ApiUsage, company: CompanyFixture) -> bool:
    try:
        usage.hit(company.id, company.token)
    except RateLimited:
        return False
    return True


def test_two_processes_share_the_limit_on_postgresql(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    """Two engines stand for two ``atendo serve`` processes: each has its own pool and its own
    ApiUsage, and the requests alternate between them."""
    if not runtime.db.is_postgres:
        pytest.skip("SQLite runs in one process; the next test covers it")
    url = runtime.settings.resolved_database_url
    one, two = Database(url, pool_size=2), Database(url, pool_size=2)
    try:
        first, second = ApiUsage(LIMIT, one), ApiUsage(LIMIT, two)
        assert first.shared and second.shared
        answers = [_allowed(usage, company) for usage in (first, second, first, second, first)]
        assert answers == [True, True, True, False, False]
        # The next minute, half-way: the previous one counts for half of at most the limit
        # (3 × 0.5 = 1.5), so one more request fits and a second does not.
        clock[0] = T0 + timedelta(minutes=1)
        assert [_allowed(second, company), _allowed(first, company)] == [True, False]
        # Two minutes on, the refused minute no longer weighs: the whole limit again.
        clock[0] = T0 + timedelta(minutes=3)
        assert [_allowed(u, company) for u in (first, second, first, second)] == [
            True,
            True,
            True,
            False,
        ]
    finally:
        one.dispose()
        two.dispose()


def test_over_http_two_apps_count_as_one_on_postgresql_and_apart_on_sqlite(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    """Two apps, each on its own engine, answer the same token: on PostgreSQL the fourth
    request is refused whichever app gets it; on SQLite (one process) each app counts its own."""
    url = runtime.settings.resolved_database_url
    other = Runtime(
        settings=runtime.settings, db=Database(url), blobs=runtime.blobs, box=runtime.box
    )
    before = runtime.settings.api_rate_limit_per_minute
    runtime.settings.api_rate_limit_per_minute = LIMIT
    try:
        apps = [TestClient(create_app(rt, workers=False)) for rt in (runtime, other)]
    finally:
        runtime.settings.api_rate_limit_per_minute = before
    try:
        codes = [
            apps[i % 2].get("/v1/companies/api_info", headers=company.headers).status_code
            for i in range(8)
        ]
    finally:
        other.db.dispose()
    if runtime.db.is_postgres:
        assert codes == [200, 200, 200, 429, 429, 429, 429, 429]
    else:
        assert codes == [200, 200, 200, 200, 200, 200, 429, 429]
    refused = apps[0].get("/v1/companies/api_info", headers=company.headers)
    assert refused.json() == {
        "status": "error",
        "message": "Number of API requests exceeded",
        "code": "rate_limited",
    }


def test_the_shared_count_commits_as_it_runs_on_postgresql(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    """Every request of a token adds to one row: its upsert runs in autocommit (committed at
    the server before it answers), so the row's lock is never held while this process gets
    round to sending a COMMIT; the token's lookup and the count are one statement, the
    request's only one (one round trip), and ``hit`` alone is the count's."""
    if not runtime.db.is_postgres:
        pytest.skip("SQLite counts in memory")
    from sqlalchemy import event

    db = Database(runtime.settings.resolved_database_url, pool_size=2)
    seen: list[tuple[bool, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((bool(conn.connection.dbapi_connection.autocommit), statement.split()[0]))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        usage = ApiUsage(LIMIT, db)
        assert usage.authenticate(company.token) == company.id
        usage.hit(company.id, company.token)
    finally:
        db.dispose()
    assert seen == [(True, "WITH"), (True, "WITH")]
    with runtime.db.reading() as session:
        hits = session.scalars(
            select(ApiRateWindow.hits).where(ApiRateWindow.company_id == company.id)
        ).all()
    assert hits == [2]
