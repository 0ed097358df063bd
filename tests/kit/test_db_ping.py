"""A pooled PostgreSQL connection is pinged on checkout only after it sat idle in the pool
(``atendo.kit.db.ping_when_idle``): one handed back a moment ago is used as it is (no round
trip), one idle for longer is proved alive first and replaced when it is dead."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from atendo.kit.db import PING_IDLE_SECONDS, Database, ping_when_idle
from atendo.runtime import Runtime


@pytest.fixture
def url(runtime: Runtime) -> str:
    if not runtime.db.is_postgres:
        pytest.skip("SQLite has no server connection to lose")
    return runtime.settings.resolved_database_url


@contextmanager
def one_connection_pool(url: str, *, idle_seconds: float) -> Iterator[Engine]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=idle_seconds)
    try:
        yield engine
    finally:
        engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return pid


def _end(runtime: Runtime, pid: int) -> None:
    """End that server backend, as a server restart or an idle timeout would."""
    with runtime.db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    time.sleep(0.2)  # the backend is gone once the server has handled the signal


def test_an_idle_dead_connection_is_replaced_before_it_is_used(runtime: Runtime, url: str) -> None:
    with one_connection_pool(url, idle_seconds=0.0) as engine:
        first = _backend(engine)
        _end(runtime, first)
        second = _backend(engine)  # pinged, found dead, replaced: no error
        assert second != first
        assert _backend(engine) == second  # a live one is kept


def test_a_connection_handed_back_a_moment_ago_is_not_pinged(runtime: Runtime, url: str) -> None:
    with one_connection_pool(url, idle_seconds=3600.0) as engine:
        first = _backend(engine)
        _end(runtime, first)
        # no ping: the request's own statement is the first to find it dead …
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        # … and the pool, invalidated by it, connects anew for the next
        assert _backend(engine) != first


def test_the_product_pool_pings_only_after_its_idle_time(runtime: Runtime, url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        first = _backend(db.engine)
        _end(runtime, first)  # within the idle time: not pinged, the statement finds it
        with pytest.raises(OperationalError), db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        second = _backend(db.engine)
        _end(runtime, second)
        time.sleep(PING_IDLE_SECONDS + 0.1)  # past it: pinged and replaced
        assert _backend(db.engine) not in (first, second)
    finally:
        db.dispose()
