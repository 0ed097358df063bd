"""Dovecot goes away and comes back: the channel shows ``error`` with a plain reason, then
recovers on its own, and nothing delivered around the outage is lost or doubled.

The test owns its Dovecot (stopping the session one would break every other test), connects
the channel through the real path (``connect_email_channel``: IMAP login + SELECT, SMTP
EHLO) and runs the real worker loop, ``mailbox_sync_loop``, in a thread with its own event
loop and short backoff tunables.

While Dovecot is stopped neither LMTP nor ``doveadm`` answers (``seed_maildir`` needs the
auth-userdb socket), so mail "delivered during the outage" is written straight into the
user's Maildir ``new/`` folder, as a local MDA would; Dovecot picks it up when it returns.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
from sqlalchemy import select

from atendo.core.channels.models import Channel
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.email.channels import connect_email_channel
from atendo.workers import mailbox_sync
from tests.conftest import CompanyFixture
from tests.servers.dovecot import DovecotServer, dovecot_available
from tests.servers.fixtures import Mailbox, new_mailbox
from tests.servers.require import unavailable
from tests.servers.smtp import SmtpServer

WAIT = 30.0


def _raw(tag: str) -> bytes:
    return (
        f"From: Cliente Recovery <recovery-{tag}@example.org>\r\n"
        f"To: support@example.com\r\nSubject: recovery {tag}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: <{tag}@recovery.example.org>\r\n\r\n"
        f"Body of {tag}.\r\n"
    ).encode()


def _wait_for(what: str, predicate: Callable[[], bool], limit: float = WAIT) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached within {limit:.0f} s: {what}")


def _channel(runtime: Runtime, channel_id: int) -> Channel:
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        session.expunge(channel)
        return channel


def _dedup_keys(runtime: Runtime, channel_id: int) -> list[str]:
    with runtime.db.reading() as session:
        keys = session.scalars(select(Message.dedup_key).where(Message.channel_id == channel_id))
        return sorted(k or "" for k in keys)


def _drop_into_maildir(maildir: Path, raw: bytes) -> None:
    """Write one message into ``maildir/new`` without Dovecot running (Maildir protocol:
    write to tmp/, then rename into new/), owned like the folder so Dovecot can read it."""
    st = maildir.stat()
    name = f"{int(time.time())}.M{uuid.uuid4().int % 10**6}P{os.getpid()}.atendo-outage"
    tmp = maildir / "tmp" / name
    tmp.write_bytes(raw.replace(b"\r\n", b"\n"))
    os.chown(tmp, st.st_uid, st.st_gid)
    tmp.rename(maildir / "new" / name)


class WorkerThread:
    """``mailbox_sync_loop`` on its own event loop in a thread; ``stop`` ends it cleanly."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="mailbox-sync-test", daemon=True)

    def _main(self) -> None:
        async def run() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            self.ready.set()
            await mailbox_sync.mailbox_sync_loop(self.runtime, self.stop_event)

        try:
            asyncio.run(run())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self.ready.set()

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(10), "the worker thread did not start"

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the worker loop did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def runtime(isolated_runtime: Runtime) -> Runtime:
    """A database of each test's own: the workers here scan every company's channels."""
    return isolated_runtime


@pytest.fixture
def own_dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot this test may stop and start (the session one stays up)."""
    reason = dovecot_available()
    if reason:
        unavailable(reason)
    server = DovecotServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


def fast_worker_for(monkeypatch: pytest.MonkeyPatch, channel_id: int) -> None:
    """The mailbox worker backs off briefly, so a few failures (FAILURES_BEFORE_ERROR) and the
    reconnection happen within seconds. (The test's database holds only ``channel_id``: the
    worker scans every channel there is.)"""
    monkeypatch.setattr(mailbox_sync, "SCAN_INTERVAL", 0.3)
    monkeypatch.setattr(mailbox_sync, "BACKOFF_START", 0.3)
    monkeypatch.setattr(mailbox_sync, "BACKOFF_MAX", 1.0)


def test_dovecot_down_shows_error_then_recovers_without_losing_mail(
    runtime: Runtime,
    company: CompanyFixture,
    own_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailbox: Mailbox = new_mailbox(own_dovecot)
    channel = asyncio.run(
        connect_email_channel(
            runtime,
            company_id=company.id,
            data={
                "email": mailbox.email,
                "password": mailbox.password,
                "imap_host": mailbox.host,
                "imap_port": mailbox.imap_port,
                "imap_security": "none",
                "smtp_host": smtp_server.host,
                "smtp_port": smtp_server.port,
                "smtp_security": "none",
                "import_days": 0,
            },
        )
    )
    channel_id = channel.id

    fast_worker_for(monkeypatch, channel_id)

    expected: list[str] = []

    def deliver(tag: str) -> None:
        mailbox.deliver(_raw(tag))
        expected.append(f"mid:{tag}@recovery.example.org")

    def status_is(status: str) -> Callable[[], bool]:
        return lambda: _channel(runtime, channel_id).status == status

    def holds_exactly_expected() -> bool:
        return _dedup_keys(runtime, channel_id) == sorted(expected)

    worker = WorkerThread(runtime)
    worker.start()
    try:
        _wait_for("status connected", status_is("connected"))
        deliver("before-outage")
        _wait_for("the first message ingested", holds_exactly_expected)

        maildir = Path(own_dovecot.doveadm("mailbox", "path", "-u", mailbox.email, "INBOX").strip())
        own_dovecot.stop()  # the listeners and the established sessions, like an outage
        _wait_for("status error while Dovecot is down", status_is("error"))
        down = _channel(runtime, channel_id)
        assert down.last_error == "connection refused"
        assert down.error_since is not None
        _drop_into_maildir(maildir, _raw("during-outage"))
        expected.append("mid:during-outage@recovery.example.org")

        own_dovecot.start()  # same ports; no admin action on the channel
        deliver("right-after-restart")
        _wait_for("status connected again", status_is("connected"))
        deliver("after-recovery")
        _wait_for(f"exactly {sorted(expected)} stored", holds_exactly_expected)
        up = _channel(runtime, channel_id)
        assert up.last_error is None
        assert up.error_since is None
        assert up.last_sync is not None
    finally:
        worker.stop()
    assert holds_exactly_expected(), _dedup_keys(runtime, channel_id)
