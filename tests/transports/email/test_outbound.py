"""Outbound e-mail services: replies, new outbound chats, comments (no SMTP here).

The helpers at the top are shared by the other outbound test modules (send, API, signatures).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from atendo.core.channels.service import create_channel
from atendo.core.clients.models import ClientIdentity
from atendo.core.clients.service import find_or_create_client
from atendo.core.dialogs.service import get_dialog, open_dialog
from atendo.core.enums import DeliveryStatus, MessageType
from atendo.core.errors import Invalid
from atendo.core.events.models import Event
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outbox import interrupt_queued
from atendo.core.messages.outgoing import OutgoingAttachment, add_comment
from atendo.runtime import Runtime
from atendo.transports.email.message_ids import is_our_message_id
from atendo.transports.email.outbound import queue_email_reply, start_outbound_chat
from atendo.transports.email.subjects import reply_subject
from tests.conftest import CompanyFixture
from tests.factories import client_mail, mail
from tests.transports.email.conftest import FrozenClock

# --- shared helpers --------------------------------------------------------------------------


def email_channel(
    runtime: Runtime,
    company_id: int,
    *,
    smtp_port: int = 25,
    smtp_host: str = "127.0.0.1",
    send_delay: int = 15,
    write_first: bool = True,
    copy_to_sent: bool = False,
    address: str = "support@acme.example",
    sender_name: str = "Acme Support",
    imap: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    reply_to: str | None = None,
    name: str = "Support",
) -> int:
    settings: dict[str, Any] = {
        "email": address,
        "sender_name": sender_name,
        "smtp_host": smtp_host,
        "smtp_port": smtp_port,
        "smtp_security": "none",
        "login": "",
        "smtp_login": "",
        "send_delay": send_delay,
        "write_first": write_first,
        "copy_to_sent": copy_to_sent,
        "imap_host": "",
        "imap_port": 0,
        "imap_security": "none",
        "tls_verify": False,
    }
    if reply_to:
        settings["reply_to"] = reply_to
    settings.update(imap or {})
    with runtime.db.transaction() as session:
        channel = create_channel(
            session,
            company_id=company_id,
            transport="email",
            name=name,
            settings=settings,
            secrets=secrets or {},
            box=runtime.box,
            write_first=write_first,
        )
        return channel.id


def email_dialog(
    runtime: Runtime,
    company_id: int,
    channel_id: int,
    recipients: list[str] | None = None,
    subject: str = "Your order",
) -> tuple[int, int]:
    recipients = recipients or ["client@example.org"]
    with runtime.db.transaction() as session:
        client, _ = find_or_create_client(
            session, company_id=company_id, transport="email", address=recipients[0]
        )
        client.name = "Maria Silva"
        dialog = open_dialog(
            session,
            company_id=company_id,
            client_id=client.id,
            channel_id=channel_id,
            recipients=recipients,
            subject=subject,
        )
        return dialog.id, client.id


def client_message(
    runtime: Runtime,
    company_id: int,
    dialog_id: int,
    *,
    mid: str,
    subject: str,
    references: list[str] | None = None,
) -> int:
    """A mail from the dialog's client, stored as the inbound sync stores it."""
    with runtime.db.reading() as session:
        dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
        sender, channel_id = (dialog.recipients or ["client@example.org"])[0], dialog.channel_id
    raw = mail(sender=sender, subject=subject, message_id=mid, references=references or [])
    arrived = client_mail(runtime, channel_id, raw)
    assert arrived.dialog_id == dialog_id
    return arrived.message_id


def reply(
    runtime: Runtime,
    company_id: int,
    dialog_id: int,
    *,
    operator_id: int | None = None,
    text: str = "Your order ships today.",
    **kwargs: Any,
) -> Message:
    with runtime.db.transaction() as session:
        return queue_email_reply(
            session,
            runtime=runtime,
            company_id=company_id,
            dialog_id=dialog_id,
            operator_id=operator_id,
            text=text,
            **kwargs,
        )


def cancel_leftovers(runtime: Runtime, company_id: int) -> None:
    """Interrupt what a test left queued, so later tests' senders never pick it up."""
    with runtime.db.transaction() as session:
        interrupt_queued(session, company_id=company_id)


def tidy_company(runtime: Runtime, company: CompanyFixture) -> Iterator[CompanyFixture]:
    """Body of the ``tidy`` fixture: the test's company, its queue emptied afterwards."""
    yield company
    cancel_leftovers(runtime, company.id)


@pytest.fixture
def tidy(runtime: Runtime, company: CompanyFixture) -> Iterator[CompanyFixture]:
    yield from tidy_company(runtime, company)


# --- replies ---------------------------------------------------------------------------------


def test_reply_is_queued_with_everything_decided_now(
    runtime: Runtime, tidy: CompanyFixture, clock: FrozenClock
) -> None:
    company = tidy
    channel_id = email_channel(runtime, company.id, send_delay=20)
    dialog_id, client_id = email_dialog(
        runtime, company.id, channel_id, ["client@example.org", "boss@example.org"]
    )
    client_message(
        runtime, company.id, dialog_id, mid="root@example.org", subject="Order 42"
    )  # fmt: skip
    client_message(
        runtime, company.id, dialog_id, mid="second@example.org", subject="Re: Order 42",
        references=["root@example.org"],
    )  # fmt: skip
    message = reply(runtime, company.id, dialog_id, operator_id=company.admin_id, cc=["x@y.org"])
    assert message.delivery_status == DeliveryStatus.QUEUED
    assert message.send_at == clock.now + timedelta(seconds=20)
    # reply-all to the client's last mail (sent to us only); the given Cc replaces its Cc
    assert message.to == ["client@example.org"]
    assert message.cc == ["x@y.org"]
    assert message.subject == "Re: Order 42"  # never "Re: Re:"
    assert message.in_reply_to == "second@example.org"
    assert message.references == ["root@example.org", "second@example.org"]
    assert message.email_message_id and is_our_message_id(runtime.box, message.email_message_id)
    assert message.dedup_key == f"mid:{message.email_message_id.lower()}"
    assert message.html and "Your order ships today." in message.html
    assert message.from_email == "support@acme.example"
    assert message.client_id == client_id
    with runtime.db.reading() as session:
        types = list(
            session.scalars(select(Event.type).where(Event.company_id == company.id))
        )  # fmt: skip
    assert "outbox" in types


def test_subject_given_wins_and_later_ones_get_re(runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id, subject="Invoice")
    assert reply(runtime, tidy.id, dialog_id).subject == "Invoice"  # the chat's first mail
    assert reply(runtime, tidy.id, dialog_id).subject == "Re: Invoice"
    assert reply(runtime, tidy.id, dialog_id, subject="New topic").subject == "New topic"
    assert reply(runtime, tidy.id, dialog_id).subject == "Re: New topic"
    assert reply_subject("RE: x") == "Re: x"
    assert reply_subject("") == ""


def test_html_is_sanitised_and_attachments_stored(runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    att = OutgoingAttachment("a.pdf", "application/pdf", b"%PDF-1.4 test")
    message = reply(
        runtime, tidy.id, dialog_id, text="hi", html="<p>hi<script>alert(1)</script></p>",
        attachments=[att],
    )  # fmt: skip
    assert message.html and "script" not in message.html
    with runtime.db.reading() as session:
        rows = list(session.scalars(select(Attachment).where(Attachment.message_id == message.id)))
    assert [(a.filename, a.size) for a in rows] == [("a.pdf", len(att.data))]
    assert runtime.blobs.get(rows[0].blob_sha) == att.data


def test_attachment_size_limit(runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    big = OutgoingAttachment("big.bin", "application/octet-stream", b"x" * 10)
    limit = runtime.settings.max_attachment_bytes
    runtime.settings.max_attachment_bytes = 5
    try:
        with pytest.raises(Invalid):
            reply(runtime, tidy.id, dialog_id, attachments=[big])
    finally:
        runtime.settings.max_attachment_bytes = limit


def test_comment_is_never_sent_and_has_no_signature(runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    with runtime.db.transaction() as session:
        note = add_comment(
            session, company_id=tidy.id, dialog_id=dialog_id, operator_id=tidy.admin_id,
            text="VIP client",
        )  # fmt: skip
    assert note.type == MessageType.COMMENT
    assert note.delivery_status is None and note.signature == ""


def test_other_company_dialog_is_404(
    runtime: Runtime, tidy: CompanyFixture, other_company: CompanyFixture
) -> None:
    from atendo.core.errors import NotFound

    channel_id = email_channel(runtime, tidy.id)
    dialog_id, _ = email_dialog(runtime, tidy.id, channel_id)
    with pytest.raises(NotFound):
        reply(runtime, other_company.id, dialog_id)


# --- new outbound chats ------------------------------------------------------------------------


def test_start_outbound_chat_creates_clients_and_queues(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    with runtime.db.transaction() as session:
        dialog, message = start_outbound_chat(
            session, runtime=runtime, company_id=tidy.id, channel_id=channel_id,
            emails=["New.Client@Example.org", "new.client@example.org", "cfo@example.org"],
            operator_id=tidy.admin_id, subject="Welcome", text="Hello!",
        )  # fmt: skip
        assert dialog.recipients == ["New.Client@example.org", "cfo@example.org"]
        assert message is not None and message.subject == "Welcome"
        assert message.to == dialog.recipients
        owners = {
            i.address: i.client_id
            for i in session.scalars(
                select(ClientIdentity).where(ClientIdentity.company_id == tidy.id)
            )
        }
        assert owners["new.client@example.org"] == dialog.client_id
        assert "cfo@example.org" in owners
        assert dialog.operator_id == tidy.admin_id


def test_start_outbound_chat_without_text_only_creates(
    runtime: Runtime, tidy: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    with runtime.db.transaction() as session:
        dialog, message = start_outbound_chat(
            session, runtime=runtime, company_id=tidy.id, channel_id=channel_id,
            emails=["only@example.org"], operator_id=None,
        )  # fmt: skip
    assert message is None and dialog.recipients == ["only@example.org"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"emails": ["a@example.org"], "text": "hi"}, "A first e-mail needs a subject"),
        ({"emails": ["not an address"]}, "Invalid e-mail address"),
        ({"emails": []}, "At least one e-mail address"),
    ],
)
def test_start_outbound_chat_refusals(
    runtime: Runtime, tidy: CompanyFixture, kwargs: dict[str, Any], reason: str
) -> None:
    channel_id = email_channel(runtime, tidy.id)
    with runtime.db.transaction() as session, pytest.raises(Invalid) as err:
        start_outbound_chat(
            session, runtime=runtime, company_id=tidy.id, channel_id=channel_id,
            operator_id=None, **kwargs,
        )  # fmt: skip
    assert reason in err.value.message


def test_write_first_off_is_refused(runtime: Runtime, tidy: CompanyFixture) -> None:
    channel_id = email_channel(runtime, tidy.id, write_first=False)
    with runtime.db.transaction() as session, pytest.raises(Invalid) as err:
        start_outbound_chat(
            session, runtime=runtime, company_id=tidy.id, channel_id=channel_id,
            emails=["a@example.org"], operator_id=None,
        )  # fmt: skip
    assert "write first" in err.value.message
