"""IDLE ends the moment the server does: ``* BYE`` or a dropped socket, against real Dovecot.

The poll interval is set far beyond the test's waits, so the only way the channel can notice
is the IDLE wait itself. The reason recorded on the channel tells which path noticed: a BYE
or a closed socket, never "timed out" (what the poll-interval-then-command-timeout path says).
After the reconnect (the worker's ordinary backoff) new mail arrives again.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import pytest
from sqlalchemy import select

from atendo.core.enums import EventType
from atendo.core.events.models import Event
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.servers.fixtures import Mailbox
from tests.transports.email.test_ingest import email_channel
from tests.transports.email.test_recovery import WorkerThread, _wait_for, fast_worker_for


def _raw(tag: str) -> bytes:
    return (
        f"From: Cliente Idle <idle-{tag}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: idle {tag}\r\nDate: {formatdate()}\r\n"
        f"Message-ID: <{tag}@idle.example.org>\r\n\r\nBody of {tag}.\r\n"
    ).encode()


def _statuses(runtime: Runtime, channel_id: int) -> list[dict[str, Any]]:
    """The channel's status changes, oldest first (the events the panel is pushed)."""
    with runtime.db.reading() as session:
        rows = session.scalars(
            select(Event.payload)
            .where(Event.type == EventType.CHANNEL_STATUS.value, Event.channel_id == channel_id)
            .order_by(Event.id)
        )
        return [dict(p) for p in rows]


def _keys(runtime: Runtime, channel_id: int) -> set[str]:
    with runtime.db.reading() as session:
        keys = session.scalars(select(Message.dedup_key).where(Message.channel_id == channel_id))
        return {k or "" for k in keys}


def _imap_pids(mailbox: Mailbox) -> list[int]:
    """Pids of the ``imap`` processes serving this user (``doveadm who``)."""
    out = mailbox.server.doveadm("who", "-1", mailbox.email)
    pids = []
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[0] == mailbox.email and fields[1] == "imap":
            pids.append(int(fields[2]))
    return pids


@pytest.fixture
def runtime(isolated_runtime: Runtime) -> Runtime:
    """A database of each test's own: the workers here scan every company's channels."""
    return isolated_runtime


@pytest.fixture
def idle_worker(
    runtime: Runtime, company: CompanyFixture, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, WorkerThread]]:
    """A connected channel in IDLE, its worker running; the poll interval is 10 minutes."""
    channel_id = email_channel(
        runtime,
        company.id,
        address=mailbox.email,
        imap_host=mailbox.host,
        imap_port=mailbox.imap_port,
        imap_security="none",
        password=mailbox.password,
        import_days=0,
    )
    monkeypatch.setattr(runtime.settings, "imap_poll_interval", 600.0)
    fast_worker_for(monkeypatch, channel_id)
    worker = WorkerThread(runtime)
    worker.start()
    try:
        _wait_for("connected", lambda: _status_is(runtime, channel_id, "connected"))
        mailbox.deliver(_raw(f"before-{channel_id}"))
        _wait_for(
            "the first mail, through IDLE",
            lambda: f"mid:before-{channel_id}@idle.example.org" in _keys(runtime, channel_id),
        )
        yield channel_id, worker
    finally:
        worker.stop()


def _status_is(runtime: Runtime, channel_id: int, status: str) -> bool:
    changes = _statuses(runtime, channel_id)
    return bool(changes) and changes[-1]["status"] == status


def _recovers(
    runtime: Runtime, mailbox: Mailbox, channel_id: int, reason: Callable[[str], bool]
) -> None:
    """The channel left ``connected`` for ``reason``, came back, and new mail arrives."""

    def noticed() -> bool:
        return any(
            c["status"] != "connected" and reason(c["last_error"] or "")
            for c in _statuses(runtime, channel_id)
        )

    _wait_for("the channel to notice the server went away", noticed)
    _wait_for("connected again", lambda: _status_is(runtime, channel_id, "connected"))
    changes = _statuses(runtime, channel_id)
    assert not any("timed out" in (c["last_error"] or "") for c in changes), changes
    mailbox.deliver(_raw(f"after-{channel_id}"))
    _wait_for(
        "mail delivered after the reconnect",
        lambda: f"mid:after-{channel_id}@idle.example.org" in _keys(runtime, channel_id),
    )


def test_bye_during_idle_reconnects_at_once(
    runtime: Runtime, mailbox: Mailbox, idle_worker: tuple[int, WorkerThread]
) -> None:
    channel_id, _worker = idle_worker
    assert _imap_pids(mailbox), "the worker should hold an IMAP session"
    mailbox.server.doveadm("kick", mailbox.email)  # Dovecot says "* BYE ..." and closes
    _recovers(runtime, mailbox, channel_id, lambda e: e.startswith("the server closed"))


def test_dropped_connection_during_idle_reconnects_at_once(
    runtime: Runtime, mailbox: Mailbox, idle_worker: tuple[int, WorkerThread]
) -> None:
    channel_id, _worker = idle_worker
    pids = _imap_pids(mailbox)
    assert pids, "the worker should hold an IMAP session"
    for pid in pids:  # no BYE: the socket just closes
        os.kill(pid, signal.SIGKILL)
    _recovers(runtime, mailbox, channel_id, lambda e: e.startswith("connection closed"))
