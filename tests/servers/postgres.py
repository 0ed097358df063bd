"""Throw-away PostgreSQL databases for tests.

Given a server URL such as ``postgresql+psycopg://postgres@127.0.0.1:5432/atendo_test`` (the
``ATENDO_TEST_DATABASE_URL`` convention), :class:`TemporaryDatabase` creates a database with a
unique name (so concurrent test sessions on one server never share state), hands out its
SQLAlchemy URL, and drops it afterwards; given ``template=`` (the name of a database nobody is
connected to) the new database starts as a copy of it. The database named in the URL is never
touched: the helper connects to the ``postgres`` maintenance database (autocommit --
CREATE/DROP DATABASE cannot run inside a transaction).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL, make_url

__all__ = [
    "ENV_VAR",
    "TemporaryDatabase",
    "libpq_url",
    "postgres_available",
    "temporary_database",
]

ENV_VAR = "ATENDO_TEST_DATABASE_URL"


def postgres_available(host: str = "127.0.0.1", port: int = 5432, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port`` (cheap pre-check to skip)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def libpq_url(url: str | URL, database: str | None = None) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://...``) into a libpq URI for psycopg."""
    parsed = make_url(url) if isinstance(url, str) else url
    parsed = parsed.set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


class TemporaryDatabase:
    """A uniquely named database on the server of ``base_url``; dropped by :meth:`drop`.

    ``url`` is the SQLAlchemy URL of the new database (same driver, user, host and query
    parameters as ``base_url``).
    """

    def __init__(
        self, base_url: str, *, prefix: str = "atendo_test", template: str | None = None
    ) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,30}", prefix):
            raise ValueError(f"bad database name prefix: {prefix!r}")
        self.base_url = make_url(base_url)
        self.name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        self.url = self.base_url.set(database=self.name).render_as_string(hide_password=False)
        self.template = template
        self._created = False

    def _admin(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(
            libpq_url(self.base_url, database="postgres"), autocommit=True, connect_timeout=5
        )

    def create(self) -> str:
        """CREATE DATABASE (a copy of ``template`` when given); return its SQLAlchemy URL.

        Copying a migrated template takes a fraction of a second where running the migrations
        takes seconds: that is what makes a fresh database per test module affordable."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name))
        if self.template is not None:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(self.name), sql.Identifier(self.template)
            )
        with self._admin() as conn:
            conn.execute(statement)
        self._created = True
        return self.url

    def drop(self) -> None:
        """DROP DATABASE, disconnecting leftover sessions (``WITH (FORCE)``, PostgreSQL 13+)."""
        if not self._created:
            return
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
        self._created = False

    def __enter__(self) -> str:
        return self.create()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.drop()


@contextmanager
def temporary_database(base_url: str, *, prefix: str = "atendo_test") -> Iterator[str]:
    """``with temporary_database(url) as db_url:`` -- a fresh database, dropped on exit."""
    db = TemporaryDatabase(base_url, prefix=prefix)
    try:
        yield db.create()
    finally:
        db.drop()
