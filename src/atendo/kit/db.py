"""Database engine and sessions (SQLAlchemy 2).

SQLite is the embedded default (WAL, foreign keys on, a busy timeout so the in-process workers
and the web server share it); PostgreSQL is the scale-out choice. The edge (a request or a
worker job) opens a session and commits; services only flush.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    Result,
    Select,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from atendo.kit.fold import fold

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


RowT = TypeVar("RowT", bound=Base)


def get_scoped(session: Session, model: type[RowT], row_id: int, *, company_id: int) -> RowT | None:
    """The ``model`` row with this id *in this company*, else None: the by-id read of a
    tenant table. Like ``session.get`` it answers from the session's identity map when the
    row is already there; otherwise its SELECT names ``company_id`` beside the id, so that
    it reaches one shard once tables are distributed by company (docs/scaling.md)."""
    held = session.identity_map.get(inspect(model).identity_key_from_primary_key((row_id,)))
    if isinstance(held, model) and not inspect(held).expired:
        return held if getattr(held, "company_id") == company_id else None  # noqa: B009
    columns = model.__table__.c
    stmt = select(model).where(columns.id == row_id, columns.company_id == company_id)
    return session.scalars(stmt).one_or_none()


def flush_new(session: Session) -> None:
    """Flush, the new rows of each table numbered first, so that they need nothing back.

    Left to itself, SQLAlchemy asks for the ids of new rows with ``RETURNING``: on SQLite one
    ``INSERT … RETURNING id`` per row (SQLite's ``RETURNING`` promises no order), on
    PostgreSQL one ``INSERT … VALUES (…), (…), … RETURNING id`` whose text (a hundred rows of
    forty columns: thousands of placeholders) psycopg converts anew every time. Numbered
    first (:func:`_number_new_rows`), a table's rows go as one ``executemany`` of a short
    statement: SQLite's ``executemany``, psycopg's pipeline of one prepared statement."""
    _number_new_rows(session)
    session.flush()


def _number_new_rows(session: Session) -> None:
    """Ids for the session's new rows without one, per table, in the order they were added;
    only for tables with a single integer ``id`` key, and two rows or more (one row is one
    statement either way).

    PostgreSQL: from the column's own sequence, as its default would have taken them.
    SQLite: the table's highest id, plus one, … — the ids SQLite would have given: a writing
    unit of work on SQLite holds the database's write lock from its first statement (``BEGIN
    IMMEDIATE``, see :func:`make_engine`), so no other writer takes them meanwhile."""
    waiting: dict[Any, list[Any]] = {}
    for obj in session.new:
        state = inspect(obj)
        key = state.mapper.primary_key
        if len(key) != 1 or key[0].key != "id" or getattr(obj, "id", None) is not None:
            continue
        waiting.setdefault(state.mapper.local_table, []).append(state)
    dialect = session.get_bind().dialect.name
    for table, states in waiting.items():
        if len(states) < 2:
            continue
        with session.no_autoflush:  # the rows must not be flushed before they are numbered
            if dialect == "postgresql":
                ids = sorted(
                    session.scalars(
                        select(
                            func.nextval(func.pg_get_serial_sequence(table.name, "id"))
                        ).select_from(func.generate_series(1, len(states)))
                    )
                )
            else:
                top = session.execute(select(func.max(table.c.id))).scalar() or 0
                ids = list(range(top + 1, top + 1 + len(states)))
        states.sort(key=lambda state: state.insert_order)  # the order the flush writes them in
        for state, row_id in zip(states, ids, strict=True):
            state.obj().id = row_id


# How a list reads its page: :func:`entities` or :func:`table_rows`.
Fetch = Callable[[Session, Select[Any]], list[Any]]


def entities(session: Session, stmt: Select[Any]) -> list[Any]:
    """The ORM objects a ``select(Model)`` finds (what a list returns to be worked on)."""
    return list(session.scalars(stmt))


class Record:
    """A row of a table's columns, read by attribute (``row.name``) as fast as an object's own
    attribute (a SQLAlchemy ``Row``'s read by name costs several times more: a page of messages
    reads 40 fields of each)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values

    def __getattr__(self, name: str) -> Any:  # only for a name that is not a column
        raise AttributeError(name)


def table_rows(session: Session, stmt: Select[Any]) -> list[Record]:
    """What a ``select(Model)`` finds as plain records of its table's columns (``row.name``):
    for a list only serialised, at a fraction of the CPU of building ORM objects (no identity
    map, no instance state, no instrumented attribute reads)."""
    model = stmt.column_descriptions[0]["entity"]
    return _records_of(session.execute(stmt.with_only_columns(*model.__table__.c)))


def records(session: Session, stmt: Select[Any], params: dict[str, Any]) -> list[Record]:
    """:func:`table_rows` of a statement built once, its values given here: a ``select`` of a
    table's columns whose values are ``bindparam`` s (a list: ``expanding=True``), kept by the
    module that runs it (``functools.cache``). Building a statement, and the cache key by which
    SQLAlchemy finds its compiled form, cost more CPU than executing it; a statement built once
    keeps its cache key, so each execution only binds its values."""
    return _records_of(session.execute(stmt, params))


def _records_of(result: Result[Any]) -> list[Record]:
    keys = list(result.keys())
    return [Record(dict(zip(keys, row, strict=True))) for row in result]


def delete_selected(session: Session, model: type[Base], ids: Select[int]) -> int:
    """Delete the rows of ``model`` whose ids ``ids`` selects (a bounded batch: select with a
    LIMIT); returns how many. Selecting first keeps one plan for SQLite and PostgreSQL, where a
    DELETE takes no LIMIT."""
    found = list(session.scalars(ids))
    if found:
        session.execute(delete(model).where(model.__table__.c.id.in_(found)))
    return len(found)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns aware datetimes (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Atendo stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# An integer literal of 19 digits or more: orjson reads one beyond 64 bits as a float, where
# the standard library keeps it exact.
_LONG_INTEGER = re.compile(rb"[0-9]{19}")
_LONG_INTEGER_TEXT = re.compile(r"[0-9]{19}")


def json_loads(raw: str | bytes) -> Any:
    """A JSON column's value as the standard library reads it, in a fraction of its time: the
    empty list and object (most of a message's eight JSON columns) without parsing, the rest
    by orjson, and by ``json.loads`` whatever orjson would read otherwise (an integer beyond
    64 bits, an infinite number, a lone surrogate). A page of 20 messages parses 160 values."""
    if len(raw) == 2:
        if raw in (b"[]", "[]"):
            return []
        if raw in (b"{}", "{}"):
            return {}
    long = _LONG_INTEGER_TEXT.search(raw) if isinstance(raw, str) else _LONG_INTEGER.search(raw)
    if long is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


# The PostgreSQL connections one process may hold (``ATENDO_DB_POOL_SIZE``). Beside its pool a
# process holds one listening connection per wake-up topic it uses (``atendo.kit.wake``): up to
# 3 for a web process, up to 5 for a worker. The formula (docs/scaling.md):
#     web processes × (pool_size + 3) + worker processes × (pool_size + 5)
#         ≤ max_connections − margin
# (the margin leaves room for migrations, psql and monitoring). The default, 15, fits four
# processes on a default PostgreSQL (max_connections = 100, of which 3 are reserved for
# superusers): 2 web + 2 workers = 2 × 18 + 2 × 20 = 76, a margin of 21; four workers = 80.
# The pool never overflows: a request that finds every connection busy waits for one
# (``POOL_TIMEOUT`` seconds) instead of opening the 101st.
DEFAULT_POOL_SIZE = 15
WEB_LISTENERS = 3
WORKER_LISTENERS = 5
POOL_TIMEOUT = 30.0


def make_engine(
    url: str, *, pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = POOL_TIMEOUT
) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_deserializer=json_loads,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE is possible.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            dbapi_conn.create_function("atendo_fold", 1, fold, deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A writing unit of work takes the write lock up front (IMMEDIATE): two writers then
            # wait for each other instead of failing on a read-to-write upgrade. Reads stay
            # deferred so that WAL lets them run beside a writer.
            if conn.get_execution_options().get("atendo_readonly"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        json_deserializer=json_loads,
    )
    ping_when_idle(engine, idle_seconds=PING_IDLE_SECONDS)
    return engine


# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
PING_IDLE_SECONDS = 2.0


def ping_when_idle(engine: Engine, *, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout only when it sat idle in the pool for more than
    ``idle_seconds``; a dead one is replaced (the pool retries with a new connection) before a
    request sees it. ``pool_pre_ping`` pings on every checkout: a round trip per request (two
    for an API request: its sign-in and its reads), while a connection handed back a moment
    ago is as alive as the ping would prove. A server restarted while connections were busy
    is seen by the first statement of each (SQLAlchemy then invalidates the whole pool)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["atendo_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("atendo_idle_since")
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # new, or handed back a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure: the connection is not usable
            raise DisconnectionError("the pooled connection did not answer a ping") from exc


class WriteInReadOnly(RuntimeError):
    """A write through a read-only unit of work (:meth:`Database.quick_reading`)."""


def _refuse_writes(state: Any) -> None:
    if not state.is_select:
        raise WriteInReadOnly(f"not a read: {state.statement}")


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise WriteInReadOnly("a flush in a read-only unit of work")


class Database:
    def __init__(
        self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = POOL_TIMEOUT
    ) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(atendo_readonly=True), expire_on_commit=False
        )
        # The sessions of :meth:`quick_reading` (bound to an autocommit connection each time);
        # their guards are registered once here, not per session (each registration costs).
        self.quick_sessionmaker = sessionmaker(expire_on_commit=False, autoflush=False)
        event.listen(self.quick_sessionmaker, "do_orm_execute", _refuse_writes)
        event.listen(self.quick_sessionmaker, "before_flush", _refuse_flush)
        # SQLite has one writer at a time, and a writer that finds the lock taken polls it in
        # growing sleeps (up to 100 ms each): under contention a write waits far longer than
        # the write ahead of it takes. Writers of this process queue on a lock of ours
        # instead, and only another process's writer is left to SQLite's busy handler.
        self._write_turn: threading.RLock | None = (
            threading.RLock() if self.engine.dialect.name == "sqlite" else None
        )

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any exception."""
        with (
            self._write_turn or contextlib.nullcontext(),
            self.sessionmaker() as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work (never takes SQLite's write lock)."""
        with self.read_sessionmaker() as session:
            yield session  # closing the session rolls the read transaction back

    @contextmanager
    def quick_reading(self) -> Iterator[Session]:
        """A read-only unit of work for one request's reads. On PostgreSQL its statements run
        in autocommit: under READ COMMITTED each statement of a transaction reads its own
        snapshot anyway, so a read-only transaction adds only its BEGIN and ROLLBACK round
        trips. Any statement but a SELECT raises (there is no transaction to roll it back).
        On SQLite it is :meth:`reading` (a read transaction keeps WAL from moving under it)."""
        if not self.is_postgres:
            with self.reading() as session:
                yield session
            return
        with (
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
            self.quick_sessionmaker(bind=connection) as session,
        ):
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Session]:
        """Each statement commits by itself, at the server, before its answer (PostgreSQL): for
        a lone counting upsert on a row many requests share, whose lock must not wait for the
        client's next round trip (a COMMIT sent by a thread that is waiting for the GIL)."""
        with (
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
