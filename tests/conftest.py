"""Shared fixtures: a migrated database (SQLite, or PostgreSQL via ATENDO_TEST_DATABASE_URL),
the runtime, companies, API clients — and the real-server test bed from ``tests.servers``.

Each test makes its own company, so tests are isolated by tenant without truncating tables:
that is also how the product isolates companies, so every test exercises it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atendo.core.companies.service import create_company
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from tests.servers.postgres import ENV_VAR, TemporaryDatabase

pytest_plugins = ["tests.servers.fixtures", "tests.endpoint_coverage"]

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
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


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(ENV_VAR)
    return f"atendo database: {'PostgreSQL (' + url + ')' if url else 'SQLite'}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base = os.environ.get(ENV_VAR)
    if base:
        with TemporaryDatabase(base) as url:
            upgrade(url)
            yield url
        return
    folder = tempfile.mkdtemp(prefix="atendo-test-db-")
    url = f"sqlite:///{folder}/atendo.db"
    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def runtime(database_url: str) -> Iterator[Runtime]:
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-test-data-"))
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key",
        imap_poll_interval=1.0,
        connect_timeout=5.0,
        api_rate_limit_per_minute=100_000,
    )
    rt = Runtime.from_settings(settings)
    yield rt
    rt.close()


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


@pytest.fixture(scope="session")
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
    """The API client authenticated as ``company`` (for this test only: the client is shared)."""
    app_client.headers.update(company.headers)
    try:
        yield app_client
    finally:
        app_client.headers.pop("Authorization", None)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared mail corpus is not at {CORPUS}; corpus tests skipped")
    return CORPUS
