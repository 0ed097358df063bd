"""A client message arrives: the one sequence every transport uses to bring one in.

:func:`receive_client_message` — find (or create) the client by its identity on the
transport, open (or reuse) the dialog on the channel, ensure its open request, write the
message, move the dialog's last message, and announce it. :func:`announce_arrivals` is its
last step in a batch-friendly form: the ``inbox`` (and ``new_request``) events of many stored
messages, their payloads built together and written with one INSERT (the e-mail ingest stores
a fetched batch's messages together — threading decides their dialogs — and announces them
all at once with it).

Only flushes; the caller owns the transaction. The events are rows of that transaction (the
outbox of side effects): webhooks and the panel see the message only after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.clients.models import Client
from atendo.core.clients.service import find_or_create_client, get_client
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import ensure_request, open_dialog, start_dialog, touch_dialog
from atendo.core.enums import DialogState, EventType, MessageType
from atendo.core.errors import Invalid
from atendo.core.events.service import emit_rows, event_row
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outgoing import OutgoingAttachment, store_attachments
from atendo.core.messages.service import message_event_payloads
from atendo.kit.blobs import BlobStore
from atendo.kit.clock import utcnow


@dataclass(slots=True)
class Arrival:
    """A stored client message that owes its ``inbox`` (and maybe ``new_request``) event."""

    message: Message
    new_request: bool
    attachments: list[Attachment] = field(default_factory=list)
    new_client: bool | None = None  # carried in the inbox event when known
    client: Client | None = None  # the sender, as read or created here


@dataclass(frozen=True)
class Sender:
    """Who wrote: an existing client, or an identity (``kind``: "email", "phone", …) with the
    name the transport saw."""

    client_id: int | None = None
    kind: str = ""
    address: str = ""
    name: str = ""


def receive_client_message(
    session: Session,
    *,
    channel: Channel,
    sender: Sender,
    text: str,
    attachments: Sequence[OutgoingAttachment] = (),
    blobs: BlobStore | None = None,
    **columns: Any,
) -> Arrival:
    """Store one client message on ``channel`` and announce it; ``columns`` are further
    :class:`Message` columns the transport knows (``external_id``, ``subject``, …).
    ``attachments`` (the client's files) are stored in ``blobs`` with it."""
    if attachments and blobs is None:
        raise ValueError("attachments need the blob store")
    company_id = channel.company_id
    new_client = False
    client: Client
    events: list[dict[str, Any]] = []  # the new_client event, written with the inbox one
    if sender.client_id is not None:
        client = get_client(session, company_id=company_id, client_id=sender.client_id)
    elif sender.kind and sender.address:
        client, new_client = find_or_create_client(
            session,
            company_id=company_id,
            transport=sender.kind,
            address=sender.address,
            name=sender.name,
            events=events,
        )
    else:
        raise Invalid(
            "the sender is unknown", {"from_client": ["required"]}, code="message.unknown_sender"
        )
    if new_client:  # made just now: no dialog nor request of its own to look up anywhere
        dialog, request = start_dialog(
            session, company_id=company_id, client_id=client.id, channel_id=channel.id
        )
        new_request = True
    else:
        dialog = open_dialog(
            session, company_id=company_id, client_id=client.id, channel_id=channel.id
        )
        request, new_request = ensure_request(session, dialog=dialog)
    message = Message(
        company_id=company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=client.id,
        request_id=request.id,
        type=MessageType.FROM_CLIENT.value,
        transport=channel.transport,
        text=text,
        read=False,
        created=utcnow(),
        **columns,
    )
    session.add(message)
    session.flush()
    stored = (
        store_attachments(session, blobs=blobs, message=message, attachments=attachments)
        if blobs is not None and attachments
        else []
    )
    touch_dialog(session, dialog=dialog, message=message)
    arrival = Arrival(message, new_request, stored, new_client, client)
    announce_arrivals(session, [arrival], first=events, clients=[client])
    return arrival


def announce_arrivals(
    session: Session,
    arrivals: Sequence[Arrival],
    *,
    first: Sequence[dict[str, Any]] = (),
    clients: Sequence[Client] = (),
) -> None:
    """``inbox`` (then ``new_request``) per message, as rows of the caller's transaction;
    payloads built for all of them at once. ``first``: earlier event rows of the same batch
    (e.g. ``new_client``), written in the same INSERT."""
    rows = list(first)
    if not arrivals:
        emit_rows(session, rows)
        return
    payloads = message_event_payloads(
        session,
        [a.message for a in arrivals],
        attachments={a.message.id: a.attachments for a in arrivals},
        clients=clients,
    )
    for arrival in arrivals:
        message = arrival.message
        extra: dict[str, Any] = {"is_new_request": arrival.new_request}
        if arrival.new_client is not None:
            extra["is_new_client"] = arrival.new_client
        rows.append(
            event_row(
                company_id=message.company_id,
                type=EventType.INBOX,
                payload={**payloads[message.id], **extra},
                channel_id=message.channel_id,
                dialog_id=message.dialog_id,
            )
        )
        if arrival.new_request:
            rows.append(
                event_row(
                    company_id=message.company_id,
                    type=EventType.NEW_REQUEST,
                    payload={
                        "request_id": message.request_id,
                        "dialog_id": message.dialog_id,
                        "client_id": message.client_id,
                        "channel_id": message.channel_id,
                    },
                    channel_id=message.channel_id,
                    dialog_id=message.dialog_id,
                )
            )
    emit_rows(session, rows)
    queue_new_requests(
        session,
        arrivals[0].message.company_id,
        [a.message.dialog_id for a in arrivals if a.new_request and a.message.dialog_id],
    )


def queue_new_requests(session: Session, company_id: int, dialog_ids: Sequence[int]) -> None:
    """A new request in a dialog nobody has waits in the queue ("Novos chats") for the router
    (``core.team.routing``), oldest first."""
    if dialog_ids:
        session.execute(
            update(Dialog)
            .where(
                Dialog.company_id == company_id,
                Dialog.id.in_(sorted(set(dialog_ids))),
                Dialog.operator_id.is_(None),
                Dialog.queued_at.is_(None),
                Dialog.state == DialogState.OPEN,
            )
            .values(queued_at=utcnow())
            .execution_options(synchronize_session=False)
        )
