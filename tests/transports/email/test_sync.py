"""The mailbox sync against the real Dovecot: kill -9 mid-sync, UIDVALIDITY change, IDLE."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate

import pytest
from sqlalchemy import func, select

from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.servers.fixtures import Mailbox
from tests.transports.email.test_ingest import email_channel

WORKER = """
import asyncio
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.workers import mailbox_sync

mailbox_sync.SCAN_INTERVAL = 0.3
mailbox_sync.BACKOFF_START = 0.3
mailbox_sync.BACKOFF_MAX = 1.0
runtime = Runtime.from_settings(Settings())
asyncio.run(mailbox_sync.mailbox_sync_loop(runtime, asyncio.Event()))
"""


def _raw(i: int, tag: str) -> bytes:
    return (
        f"From: Client {i} <client{i % 37}@example.org>\r\n"
        f"To: support@example.com\r\nSubject: message {i}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: <{tag}-{i}@example.org>\r\n\r\n"
        f"Body of message {i}.\r\n"
    ).encode()


def _count(runtime: Runtime, channel_id: int) -> tuple[int, int]:
    with runtime.db.reading() as session:
        total = session.scalar(select(func.count()).where(Message.channel_id == channel_id)) or 0
        distinct = (
            session.scalar(
                select(func.count(func.distinct(Message.dedup_key))).where(
                    Message.channel_id == channel_id
                )
            )
            or 0
        )
        return total, distinct


def _wait(predicate: Callable[[], bool], limit: float = 120.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached")


@pytest.fixture
def runtime(isolated_runtime: Runtime) -> Runtime:
    """A database of each test's own: the workers here scan every company's channels."""
    return isolated_runtime


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``start(poll_interval=1.0)`` runs a mailbox worker process on the test's database."""
    procs: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "ATENDO_DATABASE_URL": runtime.settings.resolved_database_url,
        "ATENDO_DATA_DIR": str(runtime.settings.data_dir),
        "ATENDO_SECRET_KEY": "test-secret-key",
        "ATENDO_WORKER_LEASE_SECONDS": "2",
    }

    def start(poll_interval: float = 1.0) -> subprocess.Popen[bytes]:
        proc_env = {**env, "ATENDO_IMAP_POLL_INTERVAL": str(poll_interval)}
        proc = subprocess.Popen([sys.executable, "-c", WORKER], env=proc_env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _channel(runtime: Runtime, company: CompanyFixture, mailbox: Mailbox) -> int:
    return email_channel(
        runtime,
        company.id,
        address=mailbox.email,
        imap_host=mailbox.host,
        imap_port=mailbox.imaps_port,
        imap_security="ssl",
        tls_verify=False,
        password=mailbox.password,
    )


def test_kill_9_mid_sync_and_uidvalidity_change_lose_and_double_nothing(
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    mailbox.seed(_raw(i, "seed") for i in range(1000))
    channel_id = _channel(runtime, company, mailbox)
    first = worker()
    _wait(lambda: _count(runtime, channel_id)[0] >= 100)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert _count(runtime, channel_id)[0] < 1000, "killed too late to prove anything"
    second = worker()
    _wait(lambda: _count(runtime, channel_id)[0] >= 1000)
    time.sleep(1.5)  # let a duplicate show up if there were one
    assert _count(runtime, channel_id) == (1000, 1000)
    second.send_signal(signal.SIGKILL)
    second.wait()
    # UIDVALIDITY changes (folder recreated, renumbered); a few arrive meanwhile.
    mailbox.recreate_folder(renumber=True)
    for i in range(5):
        mailbox.deliver(_raw(i, "after"))
    worker()
    _wait(lambda: _count(runtime, channel_id)[0] >= 1005)
    time.sleep(1.5)
    assert _count(runtime, channel_id) == (1005, 1005)


def test_new_mail_arrives_through_idle(
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """The poll interval is ten minutes, far beyond the wait: only IDLE can bring the mail."""
    channel_id = _channel(runtime, company, mailbox)
    worker(poll_interval=600.0)
    _wait(lambda: _status(runtime, channel_id) == "connected", 60)
    mailbox.deliver(_raw(1, "idle"))
    _wait(lambda: _count(runtime, channel_id)[0] == 1, 60)
    assert _count(runtime, channel_id) == (1, 1)


def _status(runtime: Runtime, channel_id: int) -> str:
    from atendo.core.channels.models import Channel

    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        return channel.status
