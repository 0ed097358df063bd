"""Visitors of a widget channel: signed tokens, the channel behind a public id, and what a
visitor may read and write (each function only flushes: the caller owns the transaction).

A visitor is a random id kept by the browser with a token that signs it together with the
channel (``SecretBox.mac``): the token opens that visitor's conversation on that channel and
nothing else. The visitor becomes a client (identity ``widget`` / visitor id) with their first
message, through the core verb :func:`receive_client_message`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.clients.models import Client
from atendo.core.clients.service import add_identity, find_by_identity
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import DeliveryStatus, EventType, MessageType
from atendo.core.errors import DomainError, Invalid
from atendo.core.events.models import Event
from atendo.core.events.service import signal_typing
from atendo.core.messages.inbound import Arrival, Sender, receive_client_message
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.service import attachments_of
from atendo.core.operators.models import Operator, PanelSession
from atendo.kit.clock import iso, utcnow
from atendo.kit.crypto import SecretBox
from atendo.kit.db import get_scoped

TRANSPORT = "widget"
IDENTITY = "widget"
MAX_TEXT = 4000
VISIBLE = (MessageType.FROM_CLIENT.value, MessageType.TO_CLIENT.value, MessageType.AUTOREPLY.value)
# Events a visitor's connection follows (their messages, answers delivered, assignment).
FOLLOWED = (
    EventType.INBOX.value,
    EventType.OUTBOX_STATUS.value,
    EventType.DIALOG_TRANSFERRED.value,
    EventType.TYPING.value,
)


class TokenRefused(DomainError):
    status_code = 401


@dataclass(frozen=True)
class Visitor:
    channel_id: int
    visitor_id: str


def new_public_id() -> str:
    return "w" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def issue_token(box: SecretBox, channel_id: int, visitor_id: str | None = None) -> str:
    visitor_id = visitor_id or secrets.token_urlsafe(18)
    return f"{channel_id}.{visitor_id}.{box.mac(f'widget:{channel_id}:{visitor_id}', 43)}"


def read_token(box: SecretBox, token: str, *, channel_id: int) -> Visitor:
    """The visitor a token names, only for the channel it was issued on."""
    parts = (token or "").split(".")
    if len(parts) != 3 or len(token) > 200 or not parts[0].isdigit():
        raise TokenRefused("invalid visitor token")
    cid, visitor_id, mac = int(parts[0]), parts[1], parts[2]
    expected = box.mac(f"widget:{cid}:{visitor_id}", 43)
    if cid != channel_id or not hmac.compare_digest(mac, expected):
        raise TokenRefused("invalid visitor token")
    return Visitor(cid, visitor_id)


def identity_hash_ok(secret: str, external_id: str, given: str) -> bool:
    """``given`` == HMAC-SHA256(secret, external_id) in hex (what the site computes)."""
    if not secret or not external_id or not given:
        return False
    want = hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, given.strip().lower())


def channel_by_public_id(session: Session, public_id: str) -> Channel | None:
    if not public_id or len(public_id) > 40:
        return None
    rows = session.scalars(
        select(Channel).where(Channel.transport == TRANSPORT, Channel.deleted.is_(False))
    )
    return next((c for c in rows if (c.settings or {}).get("public_id") == public_id), None)


def visitor_client(session: Session, channel: Channel, visitor: Visitor) -> Client | None:
    return find_by_identity(
        session, company_id=channel.company_id, transport=IDENTITY, address=visitor.visitor_id
    )


def link_verified_identity(
    session: Session, channel: Channel, visitor: Visitor, *, external_id: str, name: str = ""
) -> Client:
    """The site vouched (a valid hash) that this visitor is its user ``external_id``: the
    visitor joins the client with that external id (created when new)."""
    company_id = channel.company_id
    current = visitor_client(session, channel, visitor)
    found = session.scalar(
        select(Client).where(Client.company_id == company_id, Client.external_id == external_id)
    )
    if found is None:
        if current is not None and not current.external_id:
            current.external_id = external_id
            session.flush()
            return current
        found = Client(company_id=company_id, name=name[:300], external_id=external_id)
        session.add(found)
        session.flush()
    if current is None:
        add_identity(
            session,
            company_id=company_id,
            client_id=found.id,
            transport=IDENTITY,
            address=visitor.visitor_id,
        )
    return found


def receive_visitor_message(
    session: Session,
    channel: Channel,
    visitor: Visitor,
    *,
    text: str,
    key: str = "",
    name: str = "",
    client_id: int | None = None,
) -> tuple[Message, Arrival | None]:
    """A visitor's message through the core verb; ``key`` (the browser's id for it) makes a
    re-sent message (reconnect, second tab) stored once."""
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise Invalid("message too long", {"text": [f"at most {MAX_TEXT} characters"]})
    external_id = f"widget:{key[:60]}" if key else None
    client = visitor_client(session, channel, visitor)
    if client is not None and external_id:
        again = session.scalar(
            select(Message).where(
                Message.company_id == channel.company_id,
                Message.channel_id == channel.id,
                Message.client_id == client.id,
                Message.external_id == external_id,
            )
        )
        if again is not None:
            return again, None
    sender = (
        Sender(client_id=client.id)
        if client is not None
        else Sender(kind=IDENTITY, address=visitor.visitor_id, name=name[:300])
    )
    arrival = receive_client_message(
        session, channel=channel, sender=sender, text=text, external_id=external_id
    )
    return arrival.message, arrival


def visible_messages(
    session: Session, *, channel: Channel, client_id: int, limit: int = 200
) -> list[Message]:
    """The visitor's conversation on this channel: their messages and the answers delivered."""
    stmt = (
        select(Message)
        .where(
            Message.company_id == channel.company_id,
            Message.channel_id == channel.id,
            Message.client_id == client_id,
            Message.type.in_(VISIBLE),
            Message.hidden.is_(False),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    rows = [m for m in session.scalars(stmt) if _shown(m)]
    return rows[::-1]


def shown_messages(session: Session, *, company_id: int, ids: list[int]) -> list[Message]:
    """Of these messages, the ones a visitor sees now (their own; answers once delivered;
    never a note or a hidden message), in id order."""
    stmt = (
        select(Message)
        .where(Message.company_id == company_id, Message.id.in_(ids))
        .order_by(Message.id)
    )
    return [m for m in session.scalars(stmt) if m.type in VISIBLE and not m.hidden and _shown(m)]


def _shown(message: Message) -> bool:
    if message.type == MessageType.FROM_CLIENT.value:
        return True
    return message.delivery_status == DeliveryStatus.SENT.value


def messages_out(
    session: Session, messages: list[Message], *, public_id: str
) -> list[dict[str, Any]]:
    """What the widget shows of messages: never a note, never an operator's e-mail."""
    if not messages:
        return []
    company_id = messages[0].company_id
    files = attachments_of(session, [m.id for m in messages], company_id=company_id)
    op_ids = {m.operator_id for m in messages if m.operator_id}
    names = (
        {
            o.id: o.first_name or o.last_name
            for o in session.scalars(
                select(Operator).where(Operator.company_id == company_id, Operator.id.in_(op_ids))
            )
        }
        if op_ids
        else {}
    )
    return [message_out(m, files.get(m.id, []), names, public_id) for m in messages]


def message_out(
    m: Message, files: list[Attachment], names: dict[int, str], public_id: str
) -> dict[str, Any]:
    visitor = m.type == MessageType.FROM_CLIENT.value
    return {
        "id": m.id,
        "author": "visitor" if visitor else "operator",
        "name": "" if visitor else names.get(m.operator_id or 0, ""),
        "text": m.text,
        # The browser's own id for a message it sent: its echo may come before its ack.
        "key": (m.external_id or "").removeprefix("widget:") if visitor else "",
        # Choices offered with an automatic message (the self-service menu, the survey's
        # scale): buttons that send their text.
        "buttons": list(m.buttons or []),
        "at": iso(m.created),
        "read": bool(m.read) if visitor else None,
        "files": [
            {
                "name": a.filename,
                "size": a.size,
                "type": a.content_type,
                "url": f"/widget/{public_id}/files/{a.id}",
            }
            for a in files
        ],
    }


def followed_events(
    session: Session, *, channel: Channel, client_id: int, after: int, limit: int = 500
) -> list[Event]:
    """The events of this visitor's conversation after ``after`` (a reconnect's catch-up)."""
    stmt = (
        select(Event)
        .where(
            Event.company_id == channel.company_id,
            Event.channel_id == channel.id,
            Event.id > after,
            Event.type.in_([t for t in FOLLOWED if t != EventType.TYPING.value]),
        )
        .order_by(Event.id)
        .limit(limit)
    )
    return [e for e in session.scalars(stmt) if (e.payload or {}).get("client_id") == client_id]


def visitor_typing(session: Session, *, channel: Channel, client_id: int) -> bool:
    """The visitor is typing: a ``typing`` event on their latest dialog (False: none yet)."""
    dialog = session.scalar(
        select(Dialog)
        .where(
            Dialog.company_id == channel.company_id,
            Dialog.channel_id == channel.id,
            Dialog.client_id == client_id,
        )
        .order_by(Dialog.id.desc())
        .limit(1)
    )
    if dialog is None:
        return False
    client = get_scoped(session, Client, client_id, company_id=channel.company_id)
    signal_typing(
        session,
        company_id=channel.company_id,
        channel_id=channel.id,
        dialog_id=dialog.id,
        client_id=client_id,
        by="client",
        name=client.name if client is not None else "",
    )
    return True


def assigned_operator(session: Session, *, channel: Channel, client_id: int) -> str:
    """The first name of the operator the visitor's open dialog is assigned to ('' when none)."""
    dialog = session.scalar(
        select(Dialog)
        .where(
            Dialog.company_id == channel.company_id,
            Dialog.channel_id == channel.id,
            Dialog.client_id == client_id,
        )
        .order_by(Dialog.id.desc())
        .limit(1)
    )
    if dialog is None or dialog.operator_id is None:
        return ""
    op = get_scoped(session, Operator, dialog.operator_id, company_id=channel.company_id)
    return (op.first_name or op.last_name) if op is not None else ""


def operators_online(session: Session, *, company_id: int) -> bool:
    """Someone can answer now: an operator marked online, or one with a panel session that was
    used in the last 30 minutes."""
    now = utcnow()
    flagged = session.scalar(
        select(Operator.id)
        .where(Operator.company_id == company_id, Operator.online.is_(True))
        .where(Operator.role != "disabled")
        .limit(1)
    )
    if flagged is not None:
        return True
    from datetime import timedelta

    live = session.scalar(
        select(PanelSession.id)
        .where(
            PanelSession.company_id == company_id,
            PanelSession.expires > now,
            PanelSession.last_seen > now - timedelta(minutes=30),
        )
        .limit(1)
    )
    return live is not None
