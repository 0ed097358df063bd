"""Messages an operator (or the API) writes into a dialog, whatever its transport.

* :func:`add_comment` — an internal note: never sent, no delivery status.
* :func:`queue_message` — a to-client message queued in the outbox (``delivery_status =
  queued``) for its transport's sender; a transport that needs more on the row (e-mail: a
  subject, headers, a signature) builds the row itself and hands it to :func:`enqueue`.
* :func:`enqueue` — the shared tail: store the row and its attachments, its first status,
  the dialog's last message and the ``outbox`` event, built from the rows in hand; and
  notify :data:`QUEUED_TOPIC` (payload: the transport), which wakes the shared outbox
  worker of every process once the transaction commits (:mod:`atendo.kit.wake`).

They only flush; the edge commits. See :mod:`atendo.core.messages.outbox` for what happens
to a queued row afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from atendo.core.channels.service import get_channel
from atendo.core.clients.models import Client
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import assign_dialog, current_request, get_dialog, touch_dialog
from atendo.core.enums import DeliveryStatus, EventType, MessageType
from atendo.core.errors import Invalid, NotFound
from atendo.core.messages.limits import check_message_size
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.service import emit_message_event, record_status
from atendo.core.operators.models import Operator
from atendo.core.team.mentions import announce_mentions
from atendo.kit.blobs import BlobStore
from atendo.kit.clock import utcnow
from atendo.kit.db import get_scoped
from atendo.kit.wake import notify

QUEUED_TOPIC = "atendo_outbox"


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes


def check_operator(session: Session, *, company_id: int, operator_id: int | None) -> None:
    if operator_id is None:
        return
    op = get_scoped(session, Operator, operator_id, company_id=company_id)
    if op is None:
        raise NotFound("Operator not found")


def check_attachment_size(attachments: Sequence[OutgoingAttachment], *, limit: int) -> None:
    total = sum(len(a.data) for a in attachments)
    if total > limit:
        raise Invalid(
            "Attachments are too large",
            {"attachment": [f"at most {limit} bytes per message (got {total})"]},
            code="message.attachments_too_large",
            params={"limit": limit, "size": total},
        )


def store_attachments(
    session: Session,
    *,
    blobs: BlobStore,
    message: Message,
    attachments: Sequence[OutgoingAttachment],
) -> list[Attachment]:
    stored = [
        Attachment(
            company_id=message.company_id,
            message_id=message.id,
            filename=att.filename or "attachment",
            content_type=att.content_type or "application/octet-stream",
            size=len(att.data),
            blob_sha=blobs.put(att.data),
        )
        for att in attachments
    ]
    if stored:
        session.add_all(stored)
        session.flush()
    return stored


def enqueue(
    session: Session,
    *,
    blobs: BlobStore,
    dialog: Dialog,
    message: Message,
    attachments: Sequence[OutgoingAttachment],
    client: Client | None = None,
) -> None:
    """Write a queued outgoing message with its attachments, its first status, the dialog's
    last message and the ``outbox`` event (built from what is in hand, not re-read)."""
    session.add(message)
    session.flush()
    stored = store_attachments(session, blobs=blobs, message=message, attachments=attachments)
    record_status(session, message=message, status=DeliveryStatus.QUEUED)
    touch_dialog(session, dialog=dialog, message=message)
    emit_message_event(
        session, message=message, type=EventType.OUTBOX, attachments=stored, client=client
    )
    notify(session, QUEUED_TOPIC, message.transport)
    if (
        dialog.operator_id is None
        and message.operator_id is not None
        and message.type == MessageType.TO_CLIENT
    ):
        # Whoever answers a chat nobody has takes it.
        assign_dialog(
            session,
            company_id=dialog.company_id,
            dialog_id=dialog.id,
            operator_id=message.operator_id,
            by_operator_id=message.operator_id,
        )


def queue_message(
    session: Session,
    *,
    blobs: BlobStore,
    max_attachment_bytes: int,
    company_id: int,
    dialog_id: int,
    operator_id: int | None,
    text: str,
    type: MessageType = MessageType.TO_CLIENT,
    external_id: str | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    buttons: Sequence[str] = (),
    max_message_bytes: int | None = None,
) -> Message:
    """A to-client message queued for its transport's sender now (``send_at`` = now).

    Attachments are stored with it and reach the transport as links in the ``outbox`` event."""
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    channel = get_channel(session, company_id=company_id, channel_id=dialog.channel_id)
    check_operator(session, company_id=company_id, operator_id=operator_id)
    if not (text or "").strip() and not attachments:
        raise Invalid("The message is empty", {"text": ["required"]}, code="message.empty")
    check_attachment_size(attachments, limit=max_attachment_bytes)
    if max_message_bytes is not None:
        check_message_size(
            text=text,
            attachment_bytes=sum(len(a.data) for a in attachments),
            limit=max_message_bytes,
        )
    now = utcnow()
    request = current_request(session, dialog=dialog)
    message = Message(
        company_id=company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=dialog.client_id,
        request_id=request.id if request else None,
        operator_id=operator_id,
        type=type.value,
        transport=channel.transport,
        text=text,
        read=True,
        external_id=external_id,
        delivery_status=DeliveryStatus.QUEUED.value,
        send_at=now,
        attempts=0,
        recipient_errors={},
        buttons=list(buttons) or None,
        created=now,
    )
    enqueue(session, blobs=blobs, dialog=dialog, message=message, attachments=attachments)
    return message


def add_comment(
    session: Session, *, company_id: int, dialog_id: int, operator_id: int | None, text: str
) -> Message:
    """An internal note in the dialog: never sent, no signature, no delivery status."""
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    channel = get_channel(session, company_id=company_id, channel_id=dialog.channel_id)
    check_operator(session, company_id=company_id, operator_id=operator_id)
    if not (text or "").strip():
        raise Invalid("The comment is empty", {"text": ["required"]}, code="comment.empty")
    request = current_request(session, dialog=dialog)
    message = Message(
        company_id=company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=dialog.client_id,
        request_id=request.id if request else None,
        operator_id=operator_id,
        type=MessageType.COMMENT.value,
        transport=channel.transport,
        text=text,
        read=True,
        created=utcnow(),
    )
    session.add(message)
    session.flush()
    touch_dialog(session, dialog=dialog, message=message)
    emit_message_event(session, message=message, type=EventType.OUTBOX)
    announce_mentions(session, message=message)
    return message
