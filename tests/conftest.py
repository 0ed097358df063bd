"""Shared fixtures: a migrated database (SQLite, or PostgreSQL via ATENDO_TEST_DATABASE_URL),
the runtime, companies, API clients — and the real-server test bed from ``tests.servers``.

Every test module gets a database of its own, copied from one migrated per session (a file
copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), and its own data folder; a test
whose workers scan every company takes ``isolated_runtime``, a database of its own. Within a
module each test still makes its own company, which is also how the product isolates tenants.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atendo.core.companies.service import create_company
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from tests import company_scope
from tests.servers.postgres import ENV_VAR, TemporaryDatabase
from tests.servers.require import unavailable

pytest_plugins = ["tests.servers.fixtures", "tests.endpoint_coverage"]

# The real test servers (Dovecot, aiosmtpd, webhook receivers) listen on loopback at ports the
# system picks, which the installation's defaults refuse (issue 18): the test settings allow
# them explicitly, here once, so that the subprocesses the tests start (atendo serve, the sync)
# inherit the same. The tests of the guard itself build their Settings without these.
TEST_NETWORK_SETTINGS = {
    "ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS": "true",
    "ATENDO_MAIL_EXTRA_PORTS": "1024-65535",
    "ATENDO_WEBHOOK_EXTRA_PORTS": "1024-65535",
}
for _name, _value in TEST_NETWORK_SETTINGS.items():
    os.environ.setdefault(_name, _value)

REPO = Path(__file__).resolve().parents[1]
# ATENDO_TEST_CORPUS points elsewhere (e.g. to prove that a missing corpus fails CI).
CORPUS = Path(os.environ.get("ATENDO_TEST_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
DBLESS_PATHS = (
    "tests/servers/",
    "tests/transports/email/test_parse",
    "tests/transports/email/test_sanitize",
    "tests/transports/email/test_quotes",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = str(Path(item.fspath).resolve().relative_to(REPO))
        if rel.startswith(DBLESS_PATHS):
            item.add_marker(pytest.mark.dbless)


# Every statement on a tenant table names its company (see tests/company_scope.py).
company_scope.install()


@pytest.fixture(autouse=True)
def company_scope_guard() -> Iterator[None]:
    """Fails the test in which a statement on a tenant table ran without ``company_id``."""
    yield  # (what a module fixture did before the test counts against the test)
    found = company_scope.take()
    if found:
        pytest.fail(
            f"{len(found)} statement(s) not scoped by company:\n"
            + "\n".join(str(v) for v in found[:5]),
            pytrace=False,
        )


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(ENV_VAR)
    return f"atendo database: {'PostgreSQL (' + url + ')' if url else 'SQLite'}"


class TemplateDatabase:
    """The session's migrated database, copied (never used) for each fresh database.

    SQLite: a migrated file, copied with SQLite's backup API (milliseconds). PostgreSQL: a
    migrated database on the server of ``ATENDO_TEST_DATABASE_URL``, copied by ``CREATE
    DATABASE … TEMPLATE`` (a second or so on a busy server: the next copy is made, and used
    ones dropped, in a background thread while the tests run). Migrating takes seconds, a copy
    much less: so every test module gets a database of its own, and a test whose workers scan
    every company can have one to itself."""

    def __init__(self) -> None:
        self.base = os.environ.get(ENV_VAR)
        self._databases: list[TemporaryDatabase] = []
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-db")
        self._next: Future[TemporaryDatabase] | None = None
        self._template: TemporaryDatabase | None = None
        if self.base:
            self._template = TemporaryDatabase(self.base, prefix="atendo_tpl")
            upgrade(self._template.create())
            self.url = self._template.url
            self._next = self._background.submit(self._new_copy)
        else:
            self.url = f"sqlite:///{tempfile.mkdtemp(prefix='atendo-test-db-')}/template.db"
            upgrade(self.url)

    def _new_copy(self) -> TemporaryDatabase:
        assert self.base is not None and self._template is not None
        db = TemporaryDatabase(self.base, template=self._template.name)
        db.create()
        return db

    def copy(self) -> str:
        """The URL of a new database holding the migrated schema and nothing else."""
        if self._template is not None:
            future = self._next or self._background.submit(self._new_copy)
            db = future.result()
            self._databases.append(db)
            self._next = self._background.submit(self._new_copy)
            return db.url
        target = Path(tempfile.mkdtemp(prefix="atendo-test-db-")) / "atendo.db"
        source_path = self.url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(source_path)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        """Drop a copy that is no longer used (in the background on PostgreSQL)."""
        if url.startswith("sqlite:///"):
            shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
        for db in [d for d in self._databases if d.url == url]:
            self._databases.remove(db)
            self._background.submit(db.drop)

    def close(self) -> None:
        if self._next is not None:
            self._databases.append(self._next.result())
        self._background.shutdown(wait=True)
        for db in self._databases:
            db.drop()
        if self._template is not None:
            self._template.drop()


@pytest.fixture(scope="session")
def template_database() -> Iterator[TemplateDatabase]:
    template = TemplateDatabase()
    try:
        yield template
    finally:
        template.close()


@contextmanager
def fresh_runtime(template: TemplateDatabase, **settings: Any) -> Iterator[Runtime]:
    """A runtime on a new copy of the migrated database, with its own data folder."""
    url = template.copy()
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-test-data-"))
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": url,
        "secret_key": "test-secret-key",
        "imap_poll_interval": 1.0,
        "connect_timeout": 5.0,
        "api_rate_limit_per_minute": 100_000,
        **settings,
    }
    rt = Runtime.from_settings(Settings(**values))
    try:
        yield rt
    finally:
        rt.close()
        template.drop(url)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime(template_database: TemplateDatabase) -> Iterator[Runtime]:
    """The test module's runtime, on a database of its own (a copy of the migrated template):
    no module sees another's rows, so what a test finds does not depend on what ran before."""
    with fresh_runtime(template_database) as rt:
        yield rt


@pytest.fixture(scope="module")
def database_url(runtime: Runtime) -> str:
    """The URL of the test module's database."""
    return runtime.settings.resolved_database_url


@pytest.fixture
def isolated_runtime(template_database: TemplateDatabase) -> Iterator[Runtime]:
    """A runtime on a database of this test's own, for tests whose workers scan every company
    (the module's other tests leave channels behind that a worker would pick up)."""
    with fresh_runtime(template_database) as rt:
        yield rt


@dataclass
class CompanyFixture:
    id: int
    admin_id: int
    admin_email: str
    admin_password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.token}


_counter = iter(range(1, 10**9))


def make_company(runtime: Runtime, name: str = "Acme") -> CompanyFixture:
    n = next(_counter)
    email = f"admin{n}-{os.getpid()}@{name.lower().replace(' ', '')}.example"
    password = "correct horse battery"
    with runtime.db.transaction() as session:
        new = create_company(session, name=name, admin_email=email, admin_password=password)
        return CompanyFixture(new.company.id, new.admin.id, email, password, new.api_token)


@pytest.fixture
def company(runtime: Runtime) -> CompanyFixture:
    return make_company(runtime)


@pytest.fixture
def other_company(runtime: Runtime) -> CompanyFixture:
    return make_company(runtime, "Other Co")


@pytest.fixture(scope="module")
def app_client(runtime: Runtime) -> Iterator[TestClient]:
    from atendo.server import create_app
    from tests.endpoint_coverage import EndpointRecorder

    app = create_app(runtime, workers=False)
    with TestClient(EndpointRecorder(app)) as client:
        yield client


def app_with(runtime: Runtime, **overrides: Any) -> TestClient:
    """A client of a fresh app built while ``overrides`` replace the session's settings; they
    are restored at once (what they govern is read when the app is built)."""
    from atendo.server import create_app

    before = {name: getattr(runtime.settings, name) for name in overrides}
    for name, value in overrides.items():
        setattr(runtime.settings, name, value)
    try:
        return TestClient(create_app(runtime, workers=False))
    finally:
        for name, value in before.items():
            setattr(runtime.settings, name, value)


@pytest.fixture
def api(app_client: TestClient, company: CompanyFixture) -> Iterator[TestClient]:
    """The API client authenticated as ``company`` (for this test only: the client is shared
    by the module)."""
    app_client.headers.update(company.headers)
    try:
        yield app_client
    finally:
        app_client.headers.pop("Authorization", None)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared mail corpus; missing, it fails the test in CI and skips it elsewhere."""
    if not CORPUS.is_dir():
        unavailable(f"the shared mail corpus is not at {CORPUS} (../shared/corpus)")
    return CORPUS
