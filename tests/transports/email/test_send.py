"""The outbox and the sender against a real SMTP server (aiosmtpd) and a real Dovecot.

Time moves with the injectable clock (``set_clock``), never by sleeping.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import select, update

from atendo.core.channels.models import Channel
from atendo.core.enums import DeliveryStatus
from atendo.core.errors import Conflict
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import RetrySchedule, interrupt_message
from atendo.core.messages.service import status_history
from atendo.runtime import Runtime
from atendo.transports.email.compose import build_mime, trim_references
from atendo.transports.email.smtp_delivery import SmtpDelivery, SmtpDeliveryConfig
from tests.conftest import CompanyFixture
from tests.servers.fixtures import Mailbox
from tests.servers.smtp import SmtpServer
from tests.transports.email.conftest import FrozenClock
from tests.transports.email.test_outbound import (
    client_message,
    email_channel,
    email_dialog,
    reply,
    tidy_company,
)


@pytest.fixture
def tidy(runtime: Runtime, company: CompanyFixture) -> Iterator[CompanyFixture]:
    yield from tidy_company(runtime, company)


def sender(runtime: Runtime, **kwargs: object) -> SmtpDelivery:
    config = SmtpDeliveryConfig(smtp_timeout=5.0, **kwargs)  # type: ignore[arg-type]
    return SmtpDelivery(runtime, config)


def load(runtime: Runtime, message_id: int) -> Message:
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


async def test_interrupt_before_delay_then_send_after_delay(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    company = tidy
    channel_id = email_channel(runtime, company.id, smtp_port=smtp_server.port, send_delay=15)
    dialog_id, _ = email_dialog(
        runtime, company.id, channel_id, ["client@example.org", "boss@example.org"]
    )
    client_message(runtime, company.id, dialog_id, mid="first@example.org", subject="Order 42")
    interrupted = reply(runtime, company.id, dialog_id, text="Oops, wrong text")
    with runtime.db.transaction() as session:
        interrupt_message(session, company_id=company.id, message_id=interrupted.id)
    kept = reply(runtime, company.id, dialog_id, text="Your order ships today.", cc=["cc@ex.org"])

    worker = sender(runtime)
    await worker.run_once()  # before the delay: nothing is due
    assert len(smtp_server) == 0
    clock.advance(seconds=16)
    await worker.run_once()
    received = smtp_server.messages
    assert len(received) == 1
    got = received[0]
    # reply-all to the client's mail (sent to us alone), with the Cc given
    assert set(got.rcpt_tos) == {"client@example.org", "cc@ex.org"}
    assert got.subject == "Re: Order 42"
    assert got.message_id == f"<{kept.email_message_id}>"
    mail = message_from_bytes(got.raw, policy=default_policy)
    assert mail["In-Reply-To"] == "<first@example.org>"
    assert mail["References"] == "<first@example.org>"
    assert str(mail["From"]) == "Acme Support <support@acme.example>"
    assert mail["MIME-Version"] == "1.0"
    assert mail.get_content_type() == "multipart/alternative"
    assert "Auto-Submitted" not in mail
    assert load(runtime, interrupted.id).delivery_status == DeliveryStatus.CANCELLED
    sent = load(runtime, kept.id)
    assert sent.delivery_status == DeliveryStatus.SENT
    assert sent.smtp_reply and sent.smtp_reply.startswith("250")
    assert sent.sent_at == clock.now
    # a second interrupt, and an interrupt of a sent message: 409
    with runtime.db.transaction() as session, pytest.raises(Conflict):
        interrupt_message(session, company_id=company.id, message_id=interrupted.id)
    with runtime.db.transaction() as session, pytest.raises(Conflict) as err:
        interrupt_message(session, company_id=company.id, message_id=kept.id)
    assert err.value.message == "Message has already been sent"


async def test_automatic_reply_is_marked(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Hello")
    reply(runtime, tidy.id, dialog_id, text="We got your mail.", automatic=True)
    await sender(runtime).run_once()
    mail = message_from_bytes(smtp_server.wait_for(1)[0].raw, policy=default_policy)
    assert mail["Auto-Submitted"] == "auto-replied"


async def test_451_then_250_delivers_once_after_a_retry(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Hi")
    message = reply(runtime, tidy.id, dialog_id)
    smtp_server.fail_next(451, "4.3.0 Try again later")
    worker = sender(runtime)
    await worker.run_once()
    waiting = load(runtime, message.id)
    assert waiting.delivery_status == DeliveryStatus.QUEUED
    assert waiting.error == "retrying: 451 4.3.0 Try again later"
    assert waiting.send_at == clock.now + timedelta(minutes=1)
    await worker.run_once()  # not yet due
    assert len(smtp_server) == 0
    clock.advance(seconds=61)
    await worker.run_once()
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].message_id == f"<{message.email_message_id}>"
    done = load(runtime, message.id)
    assert done.delivery_status == DeliveryStatus.SENT and done.error is None
    assert done.attempts == 2


async def test_backoff_gives_up_after_a_day(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Hi")
    message = reply(runtime, tidy.id, dialog_id)
    worker = sender(
        runtime, retry=RetrySchedule(backoff=(timedelta(hours=6),), then_every=timedelta(hours=8))
    )
    smtp_server.fail_next(421, "4.7.0 Busy", times=10)
    delays = []
    for _ in range(10):
        await worker.run_once()
        row = load(runtime, message.id)
        if row.delivery_status != DeliveryStatus.QUEUED:
            break
        assert row.send_at is not None
        delays.append(row.send_at - clock.now)
        clock.now = row.send_at
    assert delays == [timedelta(hours=6), timedelta(hours=8), timedelta(hours=8)]
    row = load(runtime, message.id)
    assert row.delivery_status == DeliveryStatus.FAILED
    assert row.error and row.error.startswith("gave up after 4 attempts: 421 4.7.0 Busy")


async def test_550_fails_at_once_with_the_reason(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Hi")
    message = reply(runtime, tidy.id, dialog_id)
    smtp_server.fail_next(550, "5.7.1 Message rejected as spam")
    await sender(runtime).run_once()
    row = load(runtime, message.id)
    assert row.delivery_status == DeliveryStatus.FAILED
    assert row.error == "550 5.7.1 Message rejected as spam"
    assert len(smtp_server) == 0


async def test_one_refused_recipient_the_other_still_receives(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(
        runtime, tidy.id, channel_id, ["good@example.org", "gone@example.org"], subject="Hi"
    )
    smtp_server.reject_recipient("gone@example.org")
    message = reply(runtime, tidy.id, dialog_id)
    await sender(runtime).run_once()
    assert [m.rcpt_tos for m in smtp_server.messages] == [("good@example.org",)]
    row = load(runtime, message.id)
    assert row.delivery_status == DeliveryStatus.SENT
    assert row.recipient_errors == {"gone@example.org": "550 5.1.1 No such user"}


async def test_crash_between_claim_and_send_resends_with_the_same_message_id(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Hi")
    message = reply(runtime, tidy.id, dialog_id)
    crashed = sender(runtime)
    assert message.id in crashed.claim()  # claimed and committed... then the process dies
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENDING
    restarted = sender(runtime)
    await restarted.run_once()  # the claim is fresh: not taken over yet
    assert len(smtp_server) == 0
    clock.advance(minutes=11)
    await restarted.run_once()
    received = smtp_server.wait_for(1)
    assert len(received) == 1
    assert received[0].message_id == f"<{message.email_message_id}>"
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENT


async def test_interrupt_and_claim_race(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    """200 times: an interrupt and a claim of the same message at the same instant."""
    rounds = 200
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Race")
    ids = [reply(runtime, tidy.id, dialog_id, text=f"message {i}").id for i in range(rounds)]
    # Oldest send_at first: each claim(limit=1) takes exactly the message being raced.
    base = datetime(2000, 1, 1, tzinfo=UTC)
    with runtime.db.transaction() as session:
        for i, mid in enumerate(ids):
            session.execute(
                update(Message).where(Message.id == mid).values(send_at=base + timedelta(i))
            )
    worker = sender(runtime, batch=1)
    claimed: list[int] = []
    interrupted: list[int] = []

    def interrupt(mid: int, gate: threading.Barrier) -> None:
        gate.wait()
        try:
            with runtime.db.transaction() as session:
                interrupt_message(session, company_id=tidy.id, message_id=mid)
            interrupted.append(mid)
        except Conflict:
            pass

    def claim(gate: threading.Barrier) -> None:
        gate.wait()
        claimed.extend(worker.claim())

    for mid in ids:
        gate = threading.Barrier(2)
        threads = [
            threading.Thread(target=interrupt, args=(mid, gate)),
            threading.Thread(target=claim, args=(gate,)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert set(claimed) <= set(ids)
    await worker.deliver(claimed)
    received = [m.message_id for m in smtp_server.messages]
    assert len(received) == len(set(received))  # never twice
    with runtime.db.reading() as session:
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    sent_mids = {f"<{rows[i].email_message_id}>" for i in ids}
    for mid in ids:
        row = rows[mid]
        on_wire = f"<{row.email_message_id}>" in received
        if row.delivery_status == DeliveryStatus.CANCELLED:
            assert mid in interrupted and not on_wire and mid not in claimed
        else:
            assert row.delivery_status == DeliveryStatus.SENT, row.delivery_status
            assert on_wire and mid in claimed and mid not in interrupted
    assert set(received) <= sent_mids
    assert len(claimed) + len(interrupted) == rounds


async def test_signature_switches(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    from atendo.core.channels.signatures import save_signatures

    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Sig")
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        save_signatures(
            session,
            channel=channel,
            general="The {channel.name} team",
            operators={str(tidy.admin_id): "Cheers, {operator.email} for {client.name}"},
        )
    expected = {
        (True, True): f"Cheers, {tidy.admin_email} for Maria Silva",
        (True, False): f"Cheers, {tidy.admin_email} for Maria Silva",
        (False, True): "The Support team",
        (False, False): None,
    }
    worker = sender(runtime)
    for (ops, general), want in expected.items():
        with runtime.db.transaction() as session:
            channel = session.get(Channel, channel_id)
            assert channel is not None
            save_signatures(
                session, channel=channel, operators_enabled=ops, general_enabled=general
            )
        message = reply(runtime, tidy.id, dialog_id, operator_id=tidy.admin_id, text="Body")
        await worker.run_once()
        got = [m for m in smtp_server.messages if m.message_id == f"<{message.email_message_id}>"]
        assert len(got) == 1
        mail = message_from_bytes(got[0].raw, policy=default_policy)
        plain = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert plain is not None and html is not None
        text = plain.get_content().replace("\r\n", "\n")
        markup = html.get_content()
        if want is None:
            assert "-- " not in text and "atendo-signature" not in markup
            assert message.signature == ""
        else:
            assert message.signature == want
            assert text.rstrip().endswith(f"-- \n{want}")
            assert want in markup
    # automatic messages carry no operator signature (the general one, when it is on)
    auto = reply(runtime, tidy.id, dialog_id, operator_id=tidy.admin_id, automatic=True)
    assert auto.signature == ""
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        save_signatures(session, channel=channel, operators_enabled=True, general_enabled=True)
    auto = reply(runtime, tidy.id, dialog_id, operator_id=tidy.admin_id, automatic=True)
    assert auto.signature == "The Support team"


def test_compose_is_deterministic_and_trims_references(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id, reply_to="help@acme.example")
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Refs")
    message = reply(runtime, tidy.id, dialog_id)
    refs = [f"id{i}@example.org" for i in range(60)]
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message.references = refs
        first = build_mime(message, channel=channel)
        assert first == build_mime(message, channel=channel)
    mail = message_from_bytes(first, policy=default_policy)
    header = str(mail["References"]).split()
    assert header[0] == "<id0@example.org>" and header[-1] == "<id59@example.org>"
    assert len(header) <= 20
    assert mail["Reply-To"] == "help@acme.example"
    assert all(len(line) <= 998 for line in first.split(b"\r\n"))
    assert trim_references(["a@b"]) == ["<a@b>"]


def test_compose_attachments_inline_images_and_non_ascii(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    from atendo.core.messages.models import Attachment

    channel_id = email_channel(runtime, tidy.id, sender_name="Atendimento São Paulo")
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Cotação nº 7")
    message = reply(runtime, tidy.id, dialog_id, text="Olá, segue a cotação.")
    files = [
        (Attachment(filename="cotação.pdf", content_type="application/pdf", inline=False),
         b"%PDF-1.4"),
        (Attachment(filename="logo.png", content_type="image/png", inline=True,
                    content_id="logo@acme"), b"\x89PNG"),
    ]  # fmt: skip
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        raw = build_mime(message, channel=channel, attachments=files)
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    mail = message_from_bytes(raw, policy=default_policy)
    assert mail.get_content_type() == "multipart/mixed"
    assert mail["Subject"] == "Cotação nº 7"  # the chat's first mail: its own subject
    assert mail["From"].addresses[0].display_name == "Atendimento São Paulo"
    body, pdf = list(mail.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    assert pdf.get_filename() == "cotação.pdf" and pdf.get_content() == b"%PDF-1.4"
    plain, related = list(body.iter_parts())
    assert "Olá, segue a cotação." in plain.get_content()
    assert related.get_content_type() == "multipart/related"
    html, logo = list(related.iter_parts())
    assert html.get_content_type() == "text/html"
    assert logo["Content-ID"] == "<logo@acme>" and logo.get_content() == b"\x89PNG"


async def test_copy_to_sent_lands_in_dovecot_sent_folder(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer, mailbox: Mailbox
) -> None:
    channel_id = email_channel(
        runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0, copy_to_sent=True,
        address=mailbox.email,
        imap={"imap_host": mailbox.host, "imap_port": mailbox.imap_port,
              "imap_security": "none", "login": mailbox.email},
        secrets={"password": mailbox.password},
    )  # fmt: skip
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Copy")
    message = reply(runtime, tidy.id, dialog_id)
    await sender(runtime).run_once()
    row = load(runtime, message.id)
    assert row.delivery_status == DeliveryStatus.SENT, (row.delivery_status, row.error)
    sent = smtp_server.wait_for(1)[0]
    assert mailbox.uids("Sent") == [1]
    imap = mailbox.imap()
    try:
        imap.select('"Sent"', readonly=True)
        _typ, data = imap.fetch("1", "(FLAGS BODY.PEEK[])")
    finally:
        imap.logout()
    first = data[0]
    assert isinstance(first, tuple)
    assert b"\\Seen" in first[0]
    assert first[1].replace(b"\r\n", b"\n") == sent.raw.replace(b"\r\n", b"\n")
    history = [e.detail for e in status_history_of(runtime, message.id)]
    assert "copied to Sent" in history
    assert mailbox.message_count("INBOX") == 0
    # Our own copy seen again by a sync is never stored as a client message.
    from atendo.transports.email.ingest import ingest_raw

    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        again = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=first[1]
        )  # fmt: skip
    assert again is None


def status_history_of(runtime: Runtime, message_id: int) -> list:  # type: ignore[type-arg]
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return status_history(session, company_id=message.company_id, message_id=message_id)


async def test_copy_to_sent_failure_is_only_noted(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(
        runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0, copy_to_sent=True,
        imap={"imap_host": "127.0.0.1", "imap_port": 1, "imap_security": "none"},
    )  # fmt: skip
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Copy")
    message = reply(runtime, tidy.id, dialog_id)
    await sender(runtime).run_once()
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENT
    notes = [e.detail for e in status_history_of(runtime, message.id)]
    assert any(n.startswith("copy to Sent failed") for n in notes)


async def test_client_reply_threads_back_and_bounce_marks_bounced(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    from atendo.transports.email.ingest import ingest_raw

    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Thread")
    first = reply(runtime, tidy.id, dialog_id, text="First answer")
    second = reply(runtime, tidy.id, dialog_id, text="Second answer")
    await sender(runtime).run_once()
    assert len(smtp_server.wait_for(2)) == 2
    answer = (
        "From: Maria <client@example.org>\r\nTo: support@acme.example\r\n"
        "Subject: Re: Thread\r\nMessage-ID: <client-answer@example.org>\r\n"
        f"In-Reply-To: <{first.email_message_id}>\r\n"
        f"References: <{first.email_message_id}>\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nThanks!\r\n"
    ).encode()
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: support@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\n"
        "Date: Wed, 25 Nov 2026 10:01:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; client@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{second.email_message_id}>\r\nSubject: Re: Thread\r\n\r\n--B--\r\n"
    ).encode()
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        got = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=answer
        )  # fmt: skip
        assert got is not None and got.dialog_id == dialog_id
        ingest_raw(session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=bounce)
    assert load(runtime, second.id).delivery_status == DeliveryStatus.BOUNCED
    assert load(runtime, first.id).delivery_status == DeliveryStatus.SENT


async def test_the_worker_loop_sends_and_stops(
    runtime: Runtime, tidy: CompanyFixture, smtp_server: SmtpServer
) -> None:
    channel_id = email_channel(runtime, tidy.id, smtp_port=smtp_server.port, send_delay=0)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Loop")
    messages = [reply(runtime, tidy.id, dialog_id, text=f"n{i}") for i in range(3)]
    stop = asyncio.Event()
    loop = asyncio.create_task(sender(runtime, tick=0.05).run(stop))
    await smtp_server.async_wait_for(3)
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    assert {load(runtime, m.id).delivery_status for m in messages} == {DeliveryStatus.SENT}


async def test_starttls_and_auth(
    runtime: Runtime, tidy: CompanyFixture, make_smtp_server: Callable[..., SmtpServer]
) -> None:
    server = make_smtp_server(starttls=True, require_starttls=True, auth=("agent", "s3cret"))
    channel_id = email_channel(
        runtime, tidy.id, smtp_port=server.port, send_delay=0,
        imap={"smtp_security": "starttls", "smtp_login": "agent", "tls_verify": False},
        secrets={"smtp_password": "s3cret"},
    )  # fmt: skip
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="TLS")
    message = reply(runtime, tidy.id, dialog_id)
    await sender(runtime).run_once()
    got = server.wait_for(1)[0]
    assert got.tls and got.auth_login == "agent"
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENT


async def test_wrong_password_holds_the_message_with_the_reason(
    runtime: Runtime, tidy: CompanyFixture, make_smtp_server: Callable[..., SmtpServer]
) -> None:
    server = make_smtp_server(starttls=True, auth=("agent", "s3cret"))
    channel_id = email_channel(
        runtime, tidy.id, smtp_port=server.port, send_delay=0,
        imap={"smtp_security": "starttls", "smtp_login": "agent", "tls_verify": False},
        secrets={"smtp_password": "wrong"},
    )  # fmt: skip
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="TLS")
    message = reply(runtime, tidy.id, dialog_id)
    await sender(runtime).run_once()
    row = load(runtime, message.id)
    assert row.delivery_status == DeliveryStatus.QUEUED
    # the channel's fault, not the message's: held, no retry spent (test_conversations)
    assert row.error and row.error.startswith("waiting for the connection: login refused: 535")
    assert row.attempts == 0
    assert len(server) == 0
