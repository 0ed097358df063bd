"""Fixtures for the test-bed self-tests (imported by name: pytest_plugins is root-only)."""

from tests.servers.fixtures import (
    dovecot,
    mailbox,
    make_mailbox,
    make_smtp_server,
    pg_url,
    smtp_server,
)

__all__ = ["dovecot", "mailbox", "make_mailbox", "make_smtp_server", "pg_url", "smtp_server"]
