"""Mail that arrives between a fetch and the search after it is stored at once, not at the
next IDLE renewal. Real Dovecot; SQLite and PostgreSQL.

Dovecot answers a UID SEARCH from the session's view of the mailbox and only then brings the
view up to date, telling the client with an untagged ``EXISTS`` (RFC 3501 §7.3.1) that it will
not repeat in IDLE (RFC 2177). A message delivered while a fetched batch is being committed is
therefore missing from the next search's answer and announced only at its end: the sync must
read that ``EXISTS`` and search again. aioimaplib dropped it ("ignored untagged response"), and
under load such mail waited for the IDLE renewal (60 s by default; 5 % of mails at 100 mails/s
over 1,000 mailboxes in ``bench/mailboxes.py``).

Dovecot also counts the message in ``* n RECENT`` when IDLE starts, unless another session
took its ``\\Recent`` flag first, which is what a person's own mail client open on the same
mailbox does: here a second session (imaplib) plays that client, so the ``EXISTS`` is the only
word of the new mail. The poll interval is set far beyond the waits, so only the search after
the commit can bring it. The delivery happens inside the commit itself: in the session's
fence, which runs in the transaction that stores a batch (the lease check on a shared worker).
"""

from __future__ import annotations

import asyncio
import contextlib
from email.utils import formatdate

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.base import SessionHooks
from atendo.transports.email.sessions import run_mailbox_session
from tests.conftest import CompanyFixture
from tests.factories import mailbox_channel
from tests.servers.fixtures import Mailbox


def _raw(tag: str) -> bytes:
    return (
        f"From: Cliente <news-{tag}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: news {tag}\r\nDate: {formatdate()}\r\n"
        f"Message-ID: <{tag}@news.example.org>\r\n\r\nBody of {tag}.\r\n"
    ).encode()


def _subjects(runtime: Runtime, channel_id: int) -> list[str]:
    with runtime.db.reading() as session:
        found = session.scalars(
            select(Message.subject).where(Message.channel_id == channel_id).order_by(Message.id)
        )
        return [str(subject) for subject in found]


async def _until(what: str, predicate: object, seconds: float) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not await asyncio.to_thread(predicate):
        if loop.time() > end:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(0.1)


async def test_mail_delivered_while_a_batch_commits_is_stored_at_once(
    runtime: Runtime,
    company: CompanyFixture,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime.settings, "imap_poll_interval", 600.0)
    channel_id = mailbox_channel(runtime, company.id, mailbox)
    synced = asyncio.Event()
    armed: list[str] = []  # the mail to deliver in the next commit
    own_client = mailbox.server.imap_connect(mailbox.email, mailbox.password)
    own_client.select("INBOX")

    def fence(_session: Session) -> bool:
        if armed:
            mailbox.deliver(_raw(armed.pop()))  # Dovecot has stored it when this returns
            own_client.noop()  # the person's client is told first: \Recent is its own
        return True

    async def on_synced() -> None:
        synced.set()

    task = asyncio.create_task(
        run_mailbox_session(runtime, channel_id, SessionHooks(fence=fence, on_synced=on_synced))
    )
    try:
        await asyncio.wait_for(synced.wait(), 30)  # connected, nothing to fetch, in IDLE
        armed.append("during-the-commit")
        await asyncio.to_thread(mailbox.deliver, _raw("first"))  # IDLE announces it
        await _until(
            "both mails stored",
            lambda: len(_subjects(runtime, channel_id)) >= 2,
            15,
        )
        assert not armed, "the first mail's commit did not deliver the second"
        assert _subjects(runtime, channel_id) == ["news first", "news during-the-commit"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        own_client.logout()
