"""The ``external`` transport: for systems that bring their own messenger.

In: ``POST /v1/messages/inbox`` → ``inject_inbox`` stores a client message like any inbound
mail (dialog, request, ``inbox`` event). Out: a to_client message on an external channel is
queued like an e-mail; the external sender (``atendo.workers.external_sender``) POSTs it to the
company's webhooks subscribed to ``outbox`` and marks it ``sent`` when one answers 2xx, else
requeues it on the webhook retry schedule and marks it ``failed`` after 5 hours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel, get_channel
from atendo.core.clients.service import find_or_create_client, get_client
from atendo.core.dialogs.service import ensure_request, open_dialog, touch_dialog
from atendo.core.enums import ChannelStatus, DeliveryStatus, EventType, MessageType
from atendo.core.errors import Invalid
from atendo.core.messages.models import Message
from atendo.core.messages.service import emit_message_event, record_status
from atendo.kit.clock import utcnow
from atendo.kit.crypto import SecretBox
from atendo.runtime import Runtime

TRANSPORT = "external"
PHONE = "phone"


def create_external_channel(
    session: Session, *, company_id: int, name: str, box: SecretBox, write_first: bool = True
) -> Channel:
    """An external channel: nothing to connect to, so it is connected at once."""
    return create_channel(
        session,
        company_id=company_id,
        transport=TRANSPORT,
        name=name.strip() or "External",
        settings={},
        secrets={},
        box=box,
        write_first=write_first,
        status=ChannelStatus.CONNECTED,
    )


async def open_external_channel(
    runtime: Runtime, *, company_id: int, data: dict[str, Any]
) -> Channel:
    """POST /v1/channels with ``transport: "external"``: its own unit of work (the channels
    router's ``_dispatch_create`` awaits this like the e-mail adapter)."""
    with runtime.db.transaction() as session:
        return create_external_channel(
            session,
            company_id=company_id,
            name=str(data.get("name") or ""),
            box=runtime.box,
            write_first=str(data.get("write_first", "true")).lower() not in ("0", "false", "no"),
        )


def inject_inbox(
    session: Session,
    *,
    company_id: int,
    channel_id: int,
    text: str,
    client_id: int | None = None,
    phone: str | None = None,
    nickname: str = "",
    external_id: str | None = None,
) -> Message:
    """Store a client's message that arrived through an external system."""
    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    if channel.transport != TRANSPORT:
        raise Invalid(
            "channel_id must be an external channel", {"channel_id": ["not an external channel"]}
        )
    phone = (phone or "").strip() or None
    if (client_id is None) == (phone is None):
        raise Invalid(
            "from_client needs exactly one of id or phone",
            {"from_client": ["exactly one of id or phone"]},
        )
    if not text.strip():
        raise Invalid("body is required", {"body": ["required"]})
    new_client = False
    if client_id is not None:
        client = get_client(session, company_id=company_id, client_id=client_id)
    else:
        assert phone is not None
        client, new_client = find_or_create_client(
            session, company_id=company_id, transport=PHONE, address=phone, name=nickname
        )
    dialog = open_dialog(session, company_id=company_id, client_id=client.id, channel_id=channel.id)
    request, new_request = ensure_request(session, dialog=dialog)
    message = Message(
        company_id=company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=client.id,
        request_id=request.id,
        type=MessageType.FROM_CLIENT.value,
        transport=TRANSPORT,
        text=text,
        external_id=external_id,
        read=False,
        created=utcnow(),
    )
    session.add(message)
    session.flush()
    touch_dialog(session, dialog=dialog, message=message)
    emit_message_event(
        session,
        message=message,
        type=EventType.INBOX,
        extra={"is_new_request": new_request, "is_new_client": new_client},
    )
    return message


def mark_delivered(session: Session, *, message_id: int) -> bool:
    """sending → sent (only from sending: an interrupt or a second sender cannot be undone)."""
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.delivery_status == DeliveryStatus.SENDING)
        .values(delivery_status=DeliveryStatus.SENT.value, sent_at=now, error=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    message = session.get(Message, message_id)
    assert message is not None
    session.refresh(message)
    record_status(session, message=message, status=DeliveryStatus.SENT, detail="webhook 2xx")
    emit_message_event(session, message=message, type=EventType.OUTBOX_STATUS)
    return True


def mark_not_delivered(
    session: Session, *, message_id: int, error: str, retry_at: datetime | None
) -> None:
    """sending → queued (retry at ``retry_at``) or failed (``retry_at`` None)."""
    status = DeliveryStatus.QUEUED if retry_at is not None else DeliveryStatus.FAILED
    values: dict[str, object] = {"delivery_status": status.value, "error": error[:1000]}
    if retry_at is not None:
        values["send_at"] = retry_at
        values["claimed_by"] = None
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.delivery_status == DeliveryStatus.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return
    message = session.get(Message, message_id)
    assert message is not None
    session.refresh(message)
    record_status(session, message=message, status=status, detail=error[:1000])
    if retry_at is None:
        emit_message_event(session, message=message, type=EventType.OUTBOX_STATUS)
