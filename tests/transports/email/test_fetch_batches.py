"""Fetch batches bounded in bytes as well as in count: the sizes come from the server
(``RFC822.SIZE``), a large mail goes in a batch of its own, and a mailbox fetched in such
batches stores every mail exactly once (issue 18, issue 20)."""

from __future__ import annotations

import asyncio
import time

import aioimaplib
import pytest

from atendo.runtime import Runtime
from atendo.transports.email import imap_sync
from atendo.transports.email.imap_sync import fetch_batches, parse_fetch, parse_sizes, uid_set
from tests.conftest import CompanyFixture
from tests.servers.fixtures import Mailbox
from tests.workers.conftest import wait_for
from tests.workers.test_sync_promptly import _channel, _status, _stored, sync_in_process

__all__ = ["sync_in_process"]  # the fixture, used by name


def _raw(i: int, body_bytes: int) -> bytes:
    return (
        f"From: Client {i} <client{i}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: sized {i}\r\nMessage-ID: <sized-{i}@example.org>\r\n\r\n"
        f"{'y' * body_bytes}\r\n"
    ).encode()


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    sizes = {1: 10, 2: 10, 3: 50, 4: 10, 5: 10, 6: 500, 7: 1, 8: 1, 9: 1}
    uids = sorted(sizes)
    assert fetch_batches(uids, sizes, first=2, count=3, max_bytes=60) == [
        [1, 2],  # the first batch is small
        [3, 4],  # 50 + 10 = 60: full in bytes
        [5],  # 500 more would pass 60
        [6],  # larger than a batch: alone
        [7, 8, 9],  # full in count
    ]
    # Sizes unknown: count alone decides.
    assert fetch_batches(uids, {}, first=2, count=3, max_bytes=60) == [
        [1, 2], [3, 4, 5], [6, 7, 8], [9],
    ]  # fmt: skip


def test_the_sizes_are_asked_for_exactly_the_uids_wanted() -> None:
    assert uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"


def test_the_sizes_are_read_from_the_servers_answer(mailbox: Mailbox) -> None:
    for i, body in enumerate((100, 5000, 70_000)):
        mailbox.deliver(_raw(i, body))

    async def ask() -> tuple[dict[int, int], dict[int, int]]:
        client = aioimaplib.IMAP4(host=mailbox.host, port=mailbox.imap_port, timeout=10)
        await client.wait_hello_from_server()
        await client.login(mailbox.email, mailbox.password)
        await client.select("INBOX")
        sizes = await client.uid("fetch", "1:*", "(UID RFC822.SIZE)")
        bodies = await client.uid("fetch", "1:*", "(UID BODY.PEEK[])")
        await client.logout()
        return parse_sizes(sizes.lines), {u: len(r) for u, r in parse_fetch(bodies.lines)}

    sizes, lengths = asyncio.run(ask())
    assert sizes == lengths
    assert len(sizes) == 3


def test_a_mailbox_fetched_in_batches_bounded_in_bytes_stores_each_mail_once(
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    sync_in_process: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Mails of about 30 KB, batches of at most 100 KB: a 40-mail mailbox takes 14 batches.
    monkeypatch.setattr(imap_sync, "FETCH_BATCH_BYTES", 100_000)
    channel_id = _channel(runtime, company, mailbox)
    wait_for(lambda: _status(runtime, channel_id) == "connected", 30, "connected, in IDLE")
    mailbox.seed(_raw(i, 30_000) for i in range(40))
    wait_for(lambda: _stored(runtime, channel_id) >= 40, 60, "the forty mails")
    time.sleep(0.5)  # room for a duplicate to show up, were there one
    assert _stored(runtime, channel_id) == 40
