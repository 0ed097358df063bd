"""The mailbox sync's batch path: same result as one by one, and one bad mail spoils nothing.

``MailboxSync._ingest_batch`` is called directly with (UID, raw) pairs — what a FETCH of the
real server hands it — so these tests need the database only.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from atendo.core.channels.models import Channel, MailboxFolder
from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.clients.service import block
from atendo.core.dialogs.models import Dialog
from atendo.core.events.models import Event
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.email import imap_sync, ingest
from atendo.transports.email.imap_sync import MailboxSync
from atendo.transports.email.settings import parse_settings
from tests.conftest import CompanyFixture
from tests.transports.email.test_ingest import email_channel
from tests.transports.email.test_ingest import ingest as ingest_one

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "email"


def _bench_mail(n: int) -> list[bytes]:
    """Realistic mail (replies to earlier ones, attachments, charsets) from bench/ingest.py."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench.ingest import generate

    return generate(n, seed=7)


def _mails() -> list[bytes]:
    fixtures = sorted(p for p in FIXTURES.glob("*.eml"))
    return [p.read_bytes() for p in fixtures] + _bench_mail(150)


def _sync(runtime: Runtime, channel_id: int) -> tuple[MailboxSync, int]:
    cfg = parse_settings(
        {"email": "support@acme.example", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1"}
    )
    sync = MailboxSync(runtime, channel_id=channel_id, cfg=cfg, password="pw")
    return sync, sync._load_folder().id


def _outcome(runtime: Runtime, channel_id: int) -> dict[str, Any]:
    """What ingest decided, free of row ids: who wrote, which mails share a dialog/request."""
    with runtime.db.reading() as session:
        rows = session.execute(
            select(
                Message.dedup_key, Message.dialog_id, Message.request_id, Message.hidden,
                Message.is_bounce, Message.is_auto_reply, Message.from_email, Message.text,
                Message.parse_error,
            ).where(Message.channel_id == channel_id)
        ).all()  # fmt: skip
        events = session.execute(
            select(Event.type, func.count())
            .where(Event.channel_id == channel_id)
            .group_by(Event.type)
        ).all()
        company_id = session.get(Channel, channel_id).company_id  # type: ignore[union-attr]
        new_clients = session.scalar(
            select(func.count()).where(Event.company_id == company_id, Event.type == "new_client")
        )
        clients = session.execute(
            select(ClientIdentity.address, Client.name)
            .join(Client, Client.id == ClientIdentity.client_id)
            .where(Client.company_id == company_id)
        ).all()
        dialogs = session.execute(
            select(
                Dialog.id, Dialog.subject, Dialog.recipients, Dialog.unread, Dialog.state,
                Message.dedup_key,
            )
            .join(Message, Message.id == Dialog.last_message_id)
            .where(Dialog.channel_id == channel_id)
        ).all()  # fmt: skip
    by_dialog: dict[int | None, set[str]] = {}
    by_request: dict[int | None, set[str]] = {}
    for row in rows:
        by_dialog.setdefault(row.dialog_id, set()).add(row.dedup_key)
        by_request.setdefault(row.request_id, set()).add(row.dedup_key)
    messages = [
        (r.dedup_key, r.hidden, r.is_bounce, r.is_auto_reply, r.from_email, r.text) for r in rows
    ]
    return {
        "messages": sorted(messages, key=repr),
        "dialogs": sorted(sorted(keys) for did, keys in by_dialog.items() if did is not None),
        "requests": sorted(sorted(keys) for rid, keys in by_request.items() if rid is not None),
        "events": sorted(events),
        "new_clients": new_clients,
        "clients": sorted(clients),
        "dialog_rows": sorted(
            (
                sorted(by_dialog[d.id]),
                d.subject,
                sorted(d.recipients),
                d.unread,
                d.state,
                d.dedup_key,
            )
            for d in dialogs
        ),
    }


def test_a_batch_threads_on_its_own_unflushed_mail_as_one_by_one_would(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    """Replies to mail of the same batch, and a new sender whose first mail is a reply that
    threads nowhere (their client, name and dialog come from that mail, not a later one)."""
    mails = [
        b"From: Ann <ann@x.example>\r\nMessage-ID: <a1@x.example>\r\nSubject: first\r\n\r\nhi\r\n",
        b"From: Bob <bob@x.example>\r\nMessage-ID: <b1@x.example>\r\n"
        b"In-Reply-To: <nowhere@x.example>\r\nSubject: bob reply\r\n\r\nre\r\n",
        b"From: Robert <bob@x.example>\r\nMessage-ID: <b2@x.example>\r\n"
        b"Subject: bob plain\r\n\r\nplain\r\n",
        b"From: Ann <ann@x.example>\r\nMessage-ID: <a2@x.example>\r\n"
        b"In-Reply-To: <a1@x.example>\r\nSubject: Re: first\r\n\r\nmore\r\n",
        b"From: Bob <bob@x.example>\r\nMessage-ID: <b3@x.example>\r\n"
        b"In-Reply-To: <a2@x.example>\r\nSubject: Re: first\r\n\r\nnot yours\r\n",
    ]
    one = email_channel(runtime, company.id)
    for raw in mails:
        ingest_one(runtime, one, raw)
    batched = email_channel(runtime, other_company.id)
    sync, folder_id = _sync(runtime, batched)
    assert sync._ingest_batch(list(enumerate(mails, 1)), folder_id=folder_id, imported=False) == 5
    expected, got = _outcome(runtime, one), _outcome(runtime, batched)
    assert got == expected
    assert ["mid:a1@x.example", "mid:a2@x.example"] in got["dialogs"]
    assert ("bob@x.example", "Bob") in got["clients"]


def _beside_one_by_one(
    runtime: Runtime,
    companies: tuple[CompanyFixture, CompanyFixture],
    *,
    first: bytes,
    change: Callable[[Dialog], None],
    mails: list[bytes],
) -> dict[str, Any]:
    """``first`` stored on two channels, its dialog changed on both; then ``mails`` one by
    one on the first channel and as one batch on the second: the same outcome (returned)."""
    channels = [email_channel(runtime, company.id) for company in companies]
    for channel_id in channels:
        ingest_one(runtime, channel_id, first)
        with runtime.db.transaction() as session:
            change(session.scalars(select(Dialog).where(Dialog.channel_id == channel_id)).one())
    for raw in mails:
        ingest_one(runtime, channels[0], raw)
    sync, folder_id = _sync(runtime, channels[1])
    stored = sync._ingest_batch(list(enumerate(mails, 1)), folder_id=folder_id, imported=False)
    assert stored == len(mails)
    expected, got = _outcome(runtime, channels[0]), _outcome(runtime, channels[1])
    assert got == expected
    return got


def test_a_reply_to_unflushed_mail_of_its_batch_joins_that_thread(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    """Dave, a recipient of Carol's dialog, answers Carol's mail of the same batch: the batch
    holds that mail unflushed, and still threads Dave's reply into Carol's dialog."""
    first = (
        b"From: Carol <carol@x.example>\r\nMessage-ID: <c0@x.example>\r\nSubject: s\r\n\r\nc\r\n"
    )
    mails = [
        b"From: Carol <carol@x.example>\r\nMessage-ID: <c1@x.example>\r\nSubject: s\r\n\r\nc1\r\n",
        b"From: Dave <dave@x.example>\r\nMessage-ID: <d1@x.example>\r\n"
        b"In-Reply-To: <c1@x.example>\r\nSubject: Re: s\r\n\r\nd1\r\n",
    ]

    def add_dave(dialog: Dialog) -> None:
        dialog.recipients = [*dialog.recipients, "dave@x.example"]

    got = _beside_one_by_one(
        runtime, (company, other_company), first=first, change=add_dave, mails=mails
    )
    assert ["mid:c0@x.example", "mid:c1@x.example", "mid:d1@x.example"] in got["dialogs"]


def test_a_client_answering_their_closed_dialog_from_outside_its_recipients_reopens_it(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    """The batch knows whose address the sender is (``_Lookups.owners``): Erin answers her
    own closed dialog, whose recipients no longer name her; it reopens, as one by one."""
    first = b"From: Erin <erin@x.example>\r\nMessage-ID: <e0@x.example>\r\nSubject: s\r\n\r\ne\r\n"
    mails = [
        b"From: Fay <fay@x.example>\r\nMessage-ID: <f1@x.example>\r\nSubject: t\r\n\r\nf1\r\n",
        b"From: Erin <erin@x.example>\r\nMessage-ID: <e1@x.example>\r\n"
        b"In-Reply-To: <e0@x.example>\r\nSubject: Re: s\r\n\r\ne1\r\n",
    ]

    def close_without_erin(dialog: Dialog) -> None:
        dialog.recipients = ["someone-else@x.example"]
        dialog.state = "closed"

    got = _beside_one_by_one(
        runtime, (company, other_company), first=first, change=close_without_erin, mails=mails
    )
    assert ["mid:e0@x.example", "mid:e1@x.example"] in got["dialogs"]


def test_batches_decide_exactly_what_one_by_one_decides(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    mails = _mails()
    one = email_channel(runtime, company.id)
    for raw in mails:
        ingest_one(runtime, one, raw)
    batched = email_channel(runtime, other_company.id)
    sync, folder_id = _sync(runtime, batched)
    items = list(enumerate(mails, start=1))
    for start in range(0, len(items), 40):
        sync._ingest_batch(items[start : start + 40], folder_id=folder_id, imported=False)
    expected, got = _outcome(runtime, one), _outcome(runtime, batched)
    assert len(got["messages"]) > 150
    assert any(len(keys) > 1 for keys in got["dialogs"]), "replies should thread"
    assert got == expected
    with runtime.db.reading() as session:
        folder = session.get(MailboxFolder, folder_id)
        assert folder is not None and folder.last_uid == len(mails)


def test_a_batch_fetched_twice_stores_nothing_new(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    sync, folder_id = _sync(runtime, channel_id)
    items = list(enumerate(_bench_mail(30), start=1))
    assert sync._ingest_batch(items, folder_id=folder_id, imported=False) == 30
    assert sync._ingest_batch(items, folder_id=folder_id, imported=False) == 0
    doubled = items[:5] + items[:5]  # the same mail twice in one batch
    assert sync._ingest_batch(doubled, folder_id=None, imported=False) == 0


def test_a_blocked_sender_is_hidden_in_a_batch(runtime: Runtime, company: CompanyFixture) -> None:
    channel_id = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        block(session, company_id=company.id, kind="domain", value="spam.example")
    sync, folder_id = _sync(runtime, channel_id)
    raws = [
        b"From: x@spam.example\r\nMessage-ID: <b1@spam.example>\r\n\r\nbuy\r\n",
        b"From: ok@fine.example\r\nMessage-ID: <b2@fine.example>\r\n\r\nhello\r\n",
    ]
    sync._ingest_batch(list(enumerate(raws, start=1)), folder_id=folder_id, imported=False)
    with runtime.db.reading() as session:
        hidden = dict(
            session.execute(
                select(Message.from_email, Message.hidden).where(Message.channel_id == channel_id)
            ).all()
        )
    assert hidden == {"x@spam.example": True, "ok@fine.example": False}


def test_one_bad_mail_spoils_neither_its_batch_nor_the_folder_position(
    runtime: Runtime, company: CompanyFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail whose storing fails rolls its batch back; the rest go in one by one."""
    channel_id = email_channel(runtime, company.id)
    sync, folder_id = _sync(runtime, channel_id)
    raws = [
        f"From: c{i}@example.org\r\nMessage-ID: <bad-batch-{i}@example.org>\r\n"
        f"Subject: {'poison' if i == 3 else 'fine'}\r\n\r\nbody {i}\r\n".encode()
        for i in range(1, 7)
    ]

    def refuse_poison(_mapper: Any, _connection: Any, message: Message) -> None:
        if message.subject == "poison":  # the database refuses this row, whichever the path
            raise RuntimeError("simulated failure while storing")

    batches: list[int] = []
    real_batch = ingest.ingest_batch

    def counting_batch(session: Any, **kw: Any) -> Any:
        batches.append(len(kw["items"]))
        return real_batch(session, **kw)

    monkeypatch.setattr(imap_sync, "ingest_batch", counting_batch)
    items = list(enumerate(raws, start=1))
    event.listen(Message, "before_insert", refuse_poison)
    try:
        stored = sync._ingest_batch(items, folder_id=folder_id, imported=False)
    finally:
        event.remove(Message, "before_insert", refuse_poison)
    assert batches == [6] and stored == 5
    with runtime.db.reading() as session:
        rows = dict(
            session.execute(
                select(Message.dedup_key, Message.raw_sha).where(Message.channel_id == channel_id)
            ).all()
        )
        folder = session.get(MailboxFolder, folder_id)
    assert rows == {
        f"mid:bad-batch-{i}@example.org": hashlib.sha256(raws[i - 1]).hexdigest()
        for i in (1, 2, 4, 5, 6)
    }
    assert folder is not None and folder.last_uid == 6
    for raw in raws:  # the bad mail's bytes are kept all the same, as the others'
        assert runtime.blobs.get(hashlib.sha256(raw).hexdigest()) == raw


def test_a_batch_writes_each_tables_new_rows_with_one_insert(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """Ten mails of five new senders: one INSERT per table for the whole batch, on SQLite as
    on PostgreSQL (SQLite's rows are numbered before the flush, ``kit.db.flush_new``), and
    the messages numbered in the order of their UIDs."""
    from tests.factories import mail

    channel_id = email_channel(runtime, company.id)
    senders = [f"new{i}@clients.example" for i in range(5)]
    raws = [mail(sender=senders[i % 5], subject=f"s{i}", body=f"m{i}") for i in range(10)]
    items = [ingest.prepare(runtime.blobs, raw, uid=uid) for uid, raw in enumerate(raws, 1)]
    inserts: dict[str, int] = {}

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO "):
            table = statement.split()[2]
            inserts[table] = inserts.get(table, 0) + 1

    engine = runtime.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        # Called directly, not through the sync's commit, so that the company-scope guard
        # watches every statement of the batch.
        with runtime.db.transaction() as session:
            channel = session.get(Channel, channel_id)
            assert channel is not None
            inserts.clear()
            stored = ingest.ingest_batch(session, box=runtime.box, channel=channel, items=items)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(stored) == 10
    assert inserts == {
        "messages": 1, "clients": 1, "client_identities": 1, "dialogs": 1, "requests": 1,
        "events": 1,
    }  # fmt: skip
    with runtime.db.reading() as session:
        texts = list(
            session.scalars(
                select(Message.text).where(Message.channel_id == channel_id).order_by(Message.id)
            )
        )
        dialogs = session.scalar(select(func.count()).where(Dialog.channel_id == channel_id))
    assert texts == [f"m{i}" for i in range(10)]
    assert dialogs == 5
