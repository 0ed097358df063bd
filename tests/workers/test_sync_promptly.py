"""Mail is never late: a new channel is synced at once (its creation wakes the worker), and a
message delivered while a large fetch runs is stored right after it, not at the next IDLE
renewal. The scan interval and the poll interval are set far beyond every wait here, so only
the wake-up, IDLE and the search after each fetch can bring the mail. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest
from sqlalchemy import func, select

from atendo.core.channels.models import Channel
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.workers import mailbox_sync
from tests.conftest import CompanyFixture
from tests.factories import mailbox_channel
from tests.servers.fixtures import Mailbox
from tests.workers.conftest import wait_for


def _raw(i: int, tag: str) -> bytes:
    return (
        f"From: Client {i} <client{i % 50}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: {tag} {i}\r\nDate: {formatdate()}\r\n"
        f"Message-ID: <{tag}-{i}@example.org>\r\n\r\nBody {i} {'x' * 2000}\r\n"
    ).encode()


def _stored(runtime: Runtime, channel_id: int) -> int:
    with runtime.db.reading() as session:
        return session.scalar(select(func.count()).where(Message.channel_id == channel_id)) or 0


def _status(runtime: Runtime, channel_id: int) -> str:
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        return channel.status


@pytest.fixture
def sync_in_process(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The mailbox sync of this process (as ``atendo serve`` runs it), scanning only every
    ten minutes and polling every ten minutes: the waits below are far shorter."""
    monkeypatch.setattr(mailbox_sync, "SCAN_INTERVAL", 600.0)
    runtime.settings.imap_poll_interval = 600.0
    started: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        started["loop"], started["stop"] = asyncio.get_running_loop(), stop
        await mailbox_sync.mailbox_sync_loop(runtime, stop)

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    time.sleep(1.0)  # its first scan (of nothing) is over
    try:
        yield
    finally:
        loop, stop = started["loop"], started["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        runtime.settings.imap_poll_interval = 1.0


def _channel(runtime: Runtime, company: CompanyFixture, mailbox: Mailbox) -> int:
    return mailbox_channel(runtime, company.id, mailbox)


def test_a_new_channel_is_synced_at_once(
    runtime: Runtime, company: CompanyFixture, mailbox: Mailbox, sync_in_process: None
) -> None:
    for i in range(5):
        mailbox.deliver(_raw(i, "waiting"))
    channel_id = _channel(runtime, company, mailbox)
    took = wait_for(lambda: _stored(runtime, channel_id) == 5, 30, "the five waiting mails")
    print(f"a new channel's mail stored {took:.2f} s after its creation")


def test_mail_delivered_during_a_long_fetch_is_stored_right_after_it(
    runtime: Runtime, company: CompanyFixture, mailbox: Mailbox, sync_in_process: None
) -> None:
    channel_id = _channel(runtime, company, mailbox)
    wait_for(lambda: _status(runtime, channel_id) == "connected", 30, "connected, in IDLE")
    bulk = 1500
    mailbox.seed(_raw(i, "bulk") for i in range(bulk))  # announced to the IDLE session
    wait_for(lambda: _stored(runtime, channel_id) > 0, 60, "the fetch of the bulk started")
    assert _stored(runtime, channel_id) < bulk, "the fetch ended before the delivery"
    mailbox.deliver(_raw(0, "during-the-fetch"))
    wait_for(lambda: _stored(runtime, channel_id) >= bulk, 120, "the bulk stored")
    done = time.monotonic()
    wait_for(lambda: _stored(runtime, channel_id) == bulk + 1, 30, "the mail delivered meanwhile")
    print(f"the mail delivered during the fetch stored {time.monotonic() - done:.2f} s after it")
