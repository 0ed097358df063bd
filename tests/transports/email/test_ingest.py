"""ingest_raw: raw first, parse, thread, dedup — on every corpus file and on our fixtures."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel
from atendo.core.clients.service import block
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.dialogs.service import close_dialog, mark_dialog_read
from atendo.core.messages.models import Attachment, Message
from atendo.runtime import Runtime
from atendo.transports.email.ingest import UNREADABLE, ingest_raw
from atendo.transports.email.settings import parse_settings
from atendo.transports.email.threading import normalise_message_id
from tests.conftest import CompanyFixture
from tests.factories import client_mail
from tests.transports.email.test_parse_corpus import known_outcomes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
SKIP_SUFFIXES = {".json", ".md", ".html", ".msg", ".py"}


def email_channel(
    runtime: Runtime, company_id: int, address: str = "support@acme.example", **more: Any
) -> int:
    """A saved e-mail channel (no connection test: these tests talk to the database only)."""
    data = {"email": address, "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1", **more}
    cfg = parse_settings(data)
    with runtime.db.transaction() as session:
        channel = create_channel(
            session,
            company_id=company_id,
            transport="email",
            name=address,
            settings=cfg.public(),
            secrets={"password": str(more.get("password", "pw"))},
            box=runtime.box,
        )
        return channel.id


def ingest(runtime: Runtime, channel_id: int, raw: bytes, *, imported: bool = False) -> int | None:
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message = ingest_raw(
            session,
            blobs=runtime.blobs,
            box=runtime.box,
            channel=channel,
            raw=raw,
            imported=imported,
        )
        return message.id if message is not None else None


def corpus_files(corpus: Path) -> list[Path]:
    """The RFC 822 files of the shared corpus (not the licences, READMEs, JSON or .msg)."""
    out = []
    for path in sorted(corpus.rglob("*")):
        if not path.is_file() or path.suffix.lower() in SKIP_SUFFIXES:
            continue
        if path.name.upper().startswith(("LICENSE", "README", "COPYING", "AUTHORS")):
            continue
        out.append(path)
    return out


def test_every_corpus_file_ingests_and_is_stored_raw(
    runtime: Runtime, company: CompanyFixture, corpus_dir: Path
) -> None:
    """Every file is stored once under its key (its Message-ID, else the hash of its bytes),
    raw bytes kept, a parse error exactly where the file is known to be one; a file whose key
    an earlier file already took is a duplicate, nothing else is dropped."""
    known = known_outcomes()
    channel_id = email_channel(runtime, company.id)
    files = corpus_files(corpus_dir)
    assert len(files) > 500
    expected: dict[str, str] = {}  # dedup key -> the first file holding it
    for path in files:
        name = str(path.relative_to(corpus_dir))
        raw = path.read_bytes()
        mid = known[name]["message_id"]
        digest = hashlib.sha256(raw).hexdigest()
        key = f"mid:{normalise_message_id(mid)}" if mid else f"sha256:{digest}"
        first = key not in expected
        expected.setdefault(key, name)
        message_id = ingest(runtime, channel_id, raw)
        assert (message_id is not None) == first, (name, key, expected[key])
        if message_id is None:
            continue
        with runtime.db.reading() as session:
            message = session.get(Message, message_id)
            assert message is not None
            assert message.dedup_key == key, name
            assert runtime.blobs.get(message.raw_sha or "") == raw, name
            assert (message.parse_error is not None) == known[name]["parse_error"], name
            if message.parse_error is not None and not known[name]["text"]:
                assert message.text == UNREADABLE, name
    with runtime.db.reading() as session:
        stored = set(
            session.scalars(select(Message.dedup_key).where(Message.channel_id == channel_id))
        )
    print(f"corpus: {len(files)} files, {len(stored)} stored")
    assert stored == set(expected)


def test_same_mail_twice_is_stored_once_and_attachments_go_to_blobs(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    raw = (FIXTURES / "rfc2231_filename.eml").read_bytes()
    first = ingest(runtime, channel_id, raw)
    assert first is not None
    assert ingest(runtime, channel_id, raw) is None
    with runtime.db.reading() as session:
        count = session.scalar(select(func.count()).where(Message.channel_id == channel_id))
        atts = list(session.scalars(select(Attachment).where(Attachment.message_id == first)))
    assert count == 1
    assert atts and all(runtime.blobs.exists(a.blob_sha) for a in atts)


def test_mail_without_message_id_dedups_by_hash(runtime: Runtime, company: CompanyFixture) -> None:
    channel_id = email_channel(runtime, company.id)
    raw = b"From: a@b.example\r\nSubject: no id\r\n\r\nhello\r\n"
    assert ingest(runtime, channel_id, raw) is not None
    assert ingest(runtime, channel_id, raw) is None
    assert ingest(runtime, channel_id, raw + b"again\r\n") is not None


def test_garbage_is_kept_raw_and_marked_unreadable(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    message_id = ingest(runtime, channel_id, b"\x00\xff\xfe not a mail at all")
    assert message_id is not None
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None
        assert message.text.strip()
        assert runtime.blobs.get(message.raw_sha or "") == b"\x00\xff\xfe not a mail at all"


def test_blocked_sender_is_stored_hidden(runtime: Runtime, company: CompanyFixture) -> None:
    channel_id = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        block(session, company_id=company.id, kind="domain", value="spam.example")
    message_id = ingest(
        runtime, channel_id, b"From: x@spam.example\r\nMessage-ID: <s1@spam.example>\r\n\r\nbuy\r\n"
    )
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None and message.hidden


def test_auto_reply_is_marked_and_mail_from_ourselves_is_not_a_client(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    auto = ingest(runtime, channel_id, (FIXTURES / "auto_reply.eml").read_bytes())
    own = ingest(
        runtime,
        channel_id,
        b"From: Support <SUPPORT@acme.example>\r\nMessage-ID: <own1@acme.example>\r\n\r\nhi\r\n",
    )
    with runtime.db.reading() as session:
        a = session.get(Message, auto)
        o = session.get(Message, own)
        assert a is not None and a.is_auto_reply and a.type == "from_client"
        assert o is not None and o.hidden and o.client_id is None


def test_a_client_s_mails_join_one_dialog_counted_unread_under_the_first_subject(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    arrived = [
        client_mail(runtime, channel_id, sender="ana@example.org", subject=subject)
        for subject in ("Pedido 42", "Re: Pedido 42", "Outra coisa")
    ]
    assert {a.dialog_id for a in arrived} == {arrived[0].dialog_id}
    assert {a.request_id for a in arrived} == {arrived[0].request_id}
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, arrived[0].dialog_id)
        assert dialog is not None
        assert (dialog.unread, dialog.subject, dialog.last_message_id, dialog.state) == (
            3, "Pedido 42", arrived[-1].message_id, "open"
        )  # fmt: skip
    with runtime.db.transaction() as session:
        mark_dialog_read(session, company_id=company.id, dialog_id=arrived[0].dialog_id)
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, arrived[0].dialog_id)
        assert dialog is not None and dialog.unread == 0
        unread = session.scalars(
            select(Message.id).where(Message.dialog_id == dialog.id, Message.read.is_(False))
        )
        assert list(unread) == []


def test_a_mail_to_a_closed_dialog_reopens_it_with_a_new_request(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    first = client_mail(runtime, channel_id, sender="bia@example.org", subject="Troca")
    with runtime.db.transaction() as session:
        close_dialog(session, company_id=company.id, dialog_id=first.dialog_id)
    with runtime.db.reading() as session:
        closed = session.get(Dialog, first.dialog_id)
        request = session.get(Request, first.request_id)
        assert closed is not None and request is not None
        assert (closed.state, request.state) == ("closed", "closed") and closed.end is not None
    again = client_mail(runtime, channel_id, sender="bia@example.org", subject="Troca de novo")
    assert again.dialog_id == first.dialog_id and again.request_id != first.request_id
    with runtime.db.reading() as session:
        dialog = session.get(Dialog, first.dialog_id)
        request = session.get(Request, again.request_id)
        assert dialog is not None and request is not None
        assert (dialog.state, dialog.end, request.state) == ("open", None, "open")
