"""The fetch pipeline (``MailboxSync._fetch``): several batches are on the wire, in the parsing
helpers and committing at once, yet every batch commits exactly once, after the one before it,
and the folder's last UID moves forward batch by batch — what one batch at a time would do.

Against the real Dovecot, with batches made tiny so that a 43-mail mailbox takes ten of them
and three are prepared ahead of the one committing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest
from sqlalchemy import event, select

from atendo.core.channels.models import MailboxFolder
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.email import imap_sync
from atendo.transports.email.imap_sync import MailboxSync, fetch_batches
from atendo.transports.email.settings import parse_settings
from tests.conftest import CompanyFixture
from tests.factories import email_channel
from tests.servers.fixtures import Mailbox

COUNT = 43


def _raw(i: int) -> bytes:
    return (
        f"From: Client {i} <client{i % 7}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: piped {i}\r\nDate: {formatdate()}\r\n"
        f"Message-ID: <piped-{i}@example.org>\r\n\r\nBody {i}\r\n"
    ).encode()


@pytest.fixture
def folder_moves(runtime: Runtime) -> Iterator[list[int]]:
    """Every ``last_uid`` a commit of fetched mail moves the folder to (``advance_folder``:
    the UPDATE that sets the last UID alone), in the order the database saw them."""
    moves: list[int] = []

    def seen(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        text = " ".join(statement.split()).lower()
        if text.startswith("update mailbox_folders set last_uid=") and "uidvalidity" not in text:
            values = list(params.values()) if isinstance(params, dict) else list(params)
            moves.append(values[0])  # SET last_uid=<first parameter>

    engine = runtime.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    yield moves
    event.remove(engine, "before_cursor_execute", seen)


def test_pipelined_batches_commit_once_each_in_uid_order(
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    folder_moves: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imap_sync, "FIRST_BATCH", 2)
    monkeypatch.setattr(imap_sync, "FETCH_BATCH", 5)
    monkeypatch.setattr(imap_sync, "PREPARE_AHEAD", 3)
    settings = {
        "imap_host": mailbox.host, "imap_port": mailbox.imap_port, "imap_security": "none",
        "password": mailbox.password, "import_days": 0,
    }  # fmt: skip
    channel_id = email_channel(runtime, company.id, address=mailbox.email, **settings)
    cfg = parse_settings({"email": mailbox.email, "smtp_host": "127.0.0.1", **settings})

    async def sync(before_second: Any) -> None:
        session = MailboxSync(runtime, channel_id=channel_id, cfg=cfg, password=mailbox.password)
        try:
            uidvalidity, uidnext = await session.connect()
            await session.sync_once(uidvalidity, uidnext)  # an empty INBOX: nothing to import
            before_second()
            await session.wait_for_news()  # IDLE tells of the new mail, as in the session's loop
            await session.sync_once(uidvalidity, None)  # the new mail, in tiny batches
        finally:
            await session.close()

    asyncio.run(sync(lambda: mailbox.deliver_many(_raw(i) for i in range(COUNT))))

    batches = fetch_batches(list(range(1, COUNT + 1)), {}, first=2, count=5)
    assert len(batches) == 10
    # One move per batch, to the batch's last UID, strictly in order.
    assert folder_moves == [batch[-1] for batch in batches]
    with runtime.db.reading() as session:
        subjects = session.scalars(
            select(Message.subject).where(Message.channel_id == channel_id).order_by(Message.id)
        ).all()
        folder = session.scalar(select(MailboxFolder).where(MailboxFolder.channel_id == channel_id))
        assert folder is not None and folder.last_uid == COUNT
    # Each mail once, stored in the order of its UID (the order it was delivered in).
    assert subjects == [f"piped {i}" for i in range(COUNT)]
