"""Factories: the rows a test needs, made through the product's own functions -- the ones the
API, the panel and the workers call -- never built by hand.

A row built by hand skips what the product does on the way (the request, the dialog's unread
count and last message, the events, the dedup key): a test on such a row can pass while the
real path is broken, or fail on a state the product never makes. Each factory returns ids;
read what you need back in your own session.

    channel_id = email_channel(runtime, company.id)
    mail = client_mail(runtime, channel_id, sender="ana@example.org", subject="Pedido")
    chat = external_channel(runtime, company.id)
    hello = client_message(runtime, company.id, chat, phone="+5511900000001")
    reply_id = queued_reply(runtime, company.id, hello.dialog_id, text="Olá!")
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.kit.netguard import PortSet
from atendo.runtime import Runtime
from atendo.transports.email.ingest import ingest_raw
from atendo.transports.email.network import MAIL_PORTS, MailNetwork

if TYPE_CHECKING:
    from tests.servers.fixtures import Mailbox
from atendo.transports.email.settings import parse_settings
from atendo.transports.external import create_external_channel

__all__ = [
    "Arrived",
    "client_mail",
    "client_message",
    "email_channel",
    "external_channel",
    "mail",
    "queued_reply",
]


@dataclass(frozen=True)
class Arrived:
    """A client's message as the product stored it, with the rows it opened or joined."""

    message_id: int
    dialog_id: int
    client_id: int
    request_id: int
    channel_id: int


# The test mail servers listen on loopback at system-chosen ports: tests that connect without a
# runtime say explicitly that this is allowed (the runtime's settings do it via tests/conftest).
LOOPBACK_MAIL = MailNetwork(allow_private=True, ports=PortSet.parse(MAIL_PORTS, "1024-65535"))


def email_channel(
    runtime: Runtime, company_id: int, address: str = "support@acme.example", **settings: Any
) -> int:
    """A saved e-mail channel (no connection test: for tests that talk to the database)."""
    data = {"email": address, "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1", **settings}
    cfg = parse_settings(data)
    with runtime.db.transaction() as session:
        channel = create_channel(
            session,
            company_id=company_id,
            transport="email",
            name=address,
            settings=cfg.public(),
            secrets={"password": str(settings.get("password", "pw"))},
            box=runtime.box,
        )
        return channel.id


def mailbox_channel(runtime: Runtime, company_id: int, mailbox: Mailbox, **settings: Any) -> int:
    """An e-mail channel on a test user of the session Dovecot (plain IMAP on loopback)."""
    return email_channel(
        runtime,
        company_id,
        address=mailbox.email,
        imap_host=mailbox.host,
        imap_port=mailbox.imap_port,
        imap_security="none",
        password=mailbox.password,
        **settings,
    )


def widget_channel(runtime: Runtime, company_id: int) -> Channel:
    """A site widget channel (embedded from http://127.0.0.1:8765), made as
    ``POST /v1/channels`` makes it."""
    import asyncio

    from atendo.transports.widget.transport import WidgetTransport

    return asyncio.run(
        WidgetTransport().connect(
            runtime,
            company_id=company_id,
            data={"name": "Site", "allowed_origins": ["http://127.0.0.1:8765"]},
        )
    )


def external_channel(runtime: Runtime, company_id: int, name: str = "Bot") -> int:
    """A channel of the external transport (messages come in through the API)."""
    with runtime.db.transaction() as session:
        return create_external_channel(
            session, company_id=company_id, name=name, box=runtime.box
        ).id


def mail(
    *,
    sender: str = "client@example.org",
    to: str = "support@acme.example",
    subject: str = "Hello",
    body: str = "Olá!",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> bytes:
    """The raw bytes of a plain-text mail (a fresh Message-ID unless given, without <>)."""
    mid = message_id or f"{uuid.uuid4().hex}@client.example"
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <{mid}>",
        f"Date: {formatdate()}",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        headers.append("References: " + " ".join(f"<{r}>" for r in references))
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(headers) + f"\r\n\r\n{body}\r\n").encode()


def client_mail(
    runtime: Runtime, channel_id: int, raw: bytes | None = None, **fields: Any
) -> Arrived:
    """A client's mail arriving on an e-mail channel, as the mailbox sync stores it.

    Give ``raw`` bytes, or the fields of :func:`mail`. Fails on a duplicate or on mail that
    opens no dialog (our own, a bounce nobody sent): use ``ingest_raw`` for those."""
    data = raw if raw is not None else mail(**fields)
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None, f"no channel {channel_id}"
        message = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=data
        )
        assert message is not None, "a duplicate: nothing was stored"
        assert message.dialog_id is not None and message.client_id is not None, "no dialog"
        assert message.request_id is not None
        return Arrived(
            message.id, message.dialog_id, message.client_id, message.request_id, channel_id
        )


def client_message(
    runtime: Runtime,
    company_id: int,
    channel_id: int,
    *,
    phone: str | None = None,
    client_id: int | None = None,
    text: str = "hello",
) -> Arrived:
    """A client's message on an external channel, as ``POST /v1/messages/inbox`` stores it."""
    if phone is None and client_id is None:
        phone = f"+55119{uuid.uuid4().int % 10**8:08d}"
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None and channel.company_id == company_id
        who = (
            Sender(client_id=client_id)
            if client_id is not None
            else Sender(kind="phone", address=phone or "")
        )
        message = receive_client_message(session, channel=channel, sender=who, text=text).message
        assert message.dialog_id is not None and message.client_id is not None
        assert message.request_id is not None
        return Arrived(
            message.id, message.dialog_id, message.client_id, message.request_id, channel_id
        )


def queued_reply(
    runtime: Runtime,
    company_id: int,
    dialog_id: int,
    *,
    text: str = "our answer",
    operator_id: int | None = None,
) -> int:
    """An operator's answer in the dialog, queued for its transport (e-mail or another)."""
    from atendo.core.dialogs.service import get_dialog
    from atendo.transports import registry
    from atendo.transports.base import Reply

    with runtime.db.transaction() as session:
        dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
        channel = session.get(Channel, dialog.channel_id)
        assert channel is not None
        message = registry.get(channel.transport).queue_reply(
            session,
            runtime=runtime,
            company_id=company_id,
            dialog_id=dialog_id,
            reply=Reply(text=text, operator_id=operator_id),
        )
        return message.id
