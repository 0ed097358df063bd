"""pytest fixtures for the real-server test bed (Dovecot, aiosmtpd SMTP, PostgreSQL).

Import them by name into a conftest (``pytest_plugins`` is only allowed in the ROOT conftest)::

    from tests.servers.fixtures import dovecot, mailbox, make_mailbox, pg_url, smtp_server

Scopes, and why:

- ``dovecot`` -- session: one Dovecot per test session ("a clean stop takes about 2.5 s: start
  Dovecot once per test session, give each test its own user"). Started lazily by the first
  test that needs it; stopped (and its run folder deleted) at session end.
- ``mailbox`` / ``make_mailbox`` -- function: a fresh ``u<hex>@example.com`` user per test, so
  tests never see each other's mail and no cleanup is needed.
- ``smtp_server`` / ``make_smtp_server`` -- function: a fresh aiosmtpd server per test (it starts
  in a few milliseconds), so scripted failures or AUTH settings can never leak between tests.
- ``pg_url`` -- session: one fresh database per session on the server named by
  ``ATENDO_TEST_DATABASE_URL`` (skipped when unset), dropped at the end.

When Dovecot cannot run here (not installed, not root) the Dovecot fixtures skip -- unless
``ATENDO_REQUIRE_SERVERS=1`` (set it in CI), which turns that into a failure.
"""

from __future__ import annotations

import imaplib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.dovecot import DovecotServer, dovecot_available
from tests.servers.postgres import ENV_VAR, TemporaryDatabase
from tests.servers.require import servers_required, unavailable
from tests.servers.smtp import SmtpServer

__all__ = [
    "Mailbox",
    "dovecot",
    "mailbox",
    "make_mailbox",
    "make_smtp_server",
    "pg_url",
    "servers_required",
    "smtp_server",
    "unavailable",
]


_unavailable = unavailable


@dataclass(frozen=True)
class Mailbox:
    """A test user on the session Dovecot, with shortcuts to the server helpers."""

    email: str
    password: str
    host: str
    imap_port: int
    imaps_port: int
    lmtp_port: int
    server: DovecotServer = field(repr=False, compare=False)

    @property
    def cert_path(self) -> Path:
        """The self-signed certificate of IMAPS (use it as CA file to verify)."""
        return self.server.cert_path

    def deliver(self, raw: bytes, *, sender: str = "sender@example.org") -> None:
        """Deliver to this user's INBOX through LMTP."""
        self.server.deliver(self.email, raw, sender=sender)

    def deliver_many(
        self, raws: Iterable[bytes], *, sender: str = "sender@example.org", connections: int = 1
    ) -> int:
        return self.server.deliver_many(self.email, raws, sender=sender, connections=connections)

    def append(self, raw: bytes, folder: str = "INBOX", *, flags: Sequence[str] = ()) -> int:
        """IMAP APPEND (creating ``folder`` if needed); returns the new UID."""
        return self.server.imap_append(self.email, self.password, folder, raw, flags=flags)

    def seed(self, raws: Iterable[bytes], folder: str = "INBOX", *, seen: bool = False) -> int:
        """Bulk fast path (direct Maildir write); see :meth:`DovecotServer.seed_maildir`."""
        return self.server.seed_maildir(self.email, raws, folder=folder, seen=seen)

    def imap(self, *, tls: bool = False) -> imaplib.IMAP4:
        """A logged-in imaplib client; the caller logs out."""
        return self.server.imap_connect(self.email, self.password, tls=tls)

    def message_count(self, folder: str = "INBOX") -> int:
        return self.server.message_count(self.email, folder)

    def uids(self, folder: str = "INBOX") -> list[int]:
        return self.server.folder_uids(self.email, folder)

    def uid_validity(self, folder: str = "INBOX") -> int:
        return self.server.uid_validity(self.email, folder)

    def create_folder(self, folder: str) -> None:
        self.server.create_folder(self.email, folder)

    def recreate_folder(self, folder: str = "INBOX", *, renumber: bool = False) -> int:
        """Force a UIDVALIDITY change; see :meth:`DovecotServer.recreate_folder`."""
        return self.server.recreate_folder(self.email, folder, renumber=renumber)


def new_mailbox(server: DovecotServer, *, password: str | None = None) -> Mailbox:
    """Create a fresh unique ``u<hex>@example.com`` user on ``server``."""
    email = f"u{uuid.uuid4().hex[:16]}@example.com"
    secret = password or f"pw-{uuid.uuid4().hex[:12]}"
    server.add_user(email, secret)
    return Mailbox(
        email=email,
        password=secret,
        host=server.host,
        imap_port=server.imap_port,
        imaps_port=server.imaps_port,
        lmtp_port=server.lmtp_port,
        server=server,
    )


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """The session's Dovecot (IMAP/IMAPS/LMTP on free 127.0.0.1 ports)."""
    reason = dovecot_available()
    if reason:
        _unavailable(reason)
    server = DovecotServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def make_mailbox(dovecot: DovecotServer) -> Callable[..., Mailbox]:
    """Factory for extra users in one test: ``make_mailbox()`` / ``make_mailbox(password=..)``."""

    def make(*, password: str | None = None) -> Mailbox:
        return new_mailbox(dovecot, password=password)

    return make


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    """A fresh, empty user on the session Dovecot."""
    return new_mailbox(dovecot)


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Factory: ``make_smtp_server(starttls=True, auth=("u", "p"))`` -- started, stopped after."""
    servers: list[SmtpServer] = []

    def make(
        *,
        starttls: bool = False,
        require_starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> SmtpServer:
        server = SmtpServer(
            starttls=starttls,
            require_starttls=require_starttls,
            implicit_tls=implicit_tls,
            auth=auth,
        )
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A fresh plain SMTP server (no TLS, no AUTH) on a free port; script it per test."""
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh database for this session (``ATENDO_TEST_DATABASE_URL``)."""
    base = os.environ.get(ENV_VAR)
    if not base:
        pytest.skip(f"{ENV_VAR} is not set (scripts/run-tests.sh sets it for its PostgreSQL pass)")
    db = TemporaryDatabase(base)
    url = db.create()
    try:
        yield url
    finally:
        db.drop()
