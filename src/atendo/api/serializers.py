"""Domain rows → the API's JSON shapes (Chat2Desk field names, [ext] e-mail fields).

Each serialiser takes an ORM object or a plain row of its table's columns (``table_rows``:
what the lists read, at a fraction of the CPU); the attribute names are the column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.companies.models import AuditEntry
from atendo.core.dialogs.models import Dialog
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.service import attachment_rows_of
from atendo.core.operators.models import GroupMember, Operator, OperatorGroup
from atendo.core.operators.service import opened_dialogs_count
from atendo.core.tags.models import Tag
from atendo.core.tags.service import tags_of
from atendo.core.templates.models import Template
from atendo.kit.clock import iso
from atendo.kit.db import Record, records


def tag_out(tag: Tag, group_names: dict[int, str] | None = None) -> dict[str, Any]:
    return {
        "id": tag.id,
        "group_id": tag.group_id,
        "group_name": (group_names or {}).get(tag.group_id or 0),
        "label": tag.label,
        "description": tag.description,
        "bg_color": tag.bg_color,
        "text_color": tag.text_color,
        "order_show": tag.order_show,
    }


@cache
def _emails_of_clients() -> Select[int, str]:
    """(client id, e-mail address) of these clients of a company, oldest address first (built
    once: see :func:`atendo.kit.db.records`)."""
    return (
        select(ClientIdentity.client_id, ClientIdentity.address)
        .where(
            ClientIdentity.company_id == bindparam("company_id"),
            ClientIdentity.client_id.in_(bindparam("ids", expanding=True)),
            ClientIdentity.transport == "email",
        )
        .order_by(ClientIdentity.id)
    )


@cache
def _channels_of_clients() -> Select[int, int, str]:
    """(client id, channel id, its transport) of the channels these clients of a company have
    dialogs on (built once)."""
    return (
        select(Dialog.client_id, Dialog.channel_id, Channel.transport)
        .distinct()
        .join(
            Channel, (Channel.company_id == Dialog.company_id) & (Channel.id == Dialog.channel_id)
        )
        .where(
            Dialog.company_id == bindparam("company_id"),
            Dialog.client_id.in_(bindparam("ids", expanding=True)),
        )
    )


def clients_out(session: Session, clients: Sequence[Client | Record]) -> list[dict[str, Any]]:
    """The clients (of one company), with three queries for all of them: their e-mail
    addresses, the channels they talk on and their tags."""
    if not clients:
        return []
    company_id = clients[0].company_id
    ids = [c.id for c in clients]
    params = {"company_id": company_id, "ids": ids}
    emails_of: dict[int, list[str]] = {}
    for client_id, address in session.execute(_emails_of_clients(), params):
        emails_of.setdefault(client_id, []).append(address)
    channels: dict[int, set[int]] = {}
    transports: dict[int, str] = {}
    for client_id, channel_id, transport in session.execute(_channels_of_clients(), params):
        channels.setdefault(client_id, set()).add(channel_id)
        transports[channel_id] = transport
    tags = tags_of(session, company_id=company_id, assignee_type="client", assignee_ids=ids)
    out = []
    for c in clients:
        emails = emails_of.get(c.id, [])
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "assigned_name": c.assigned_name,
                "phone": c.phone,
                "email": emails[0] if emails else None,
                "emails": emails,
                "comment": c.comment,
                "extra_comment_1": c.extra_comment_1,
                "extra_comment_2": c.extra_comment_2,
                "extra_comment_3": c.extra_comment_3,
                "custom_fields": c.custom_fields or {},
                "external_id": c.external_id,
                "visitor": c.visitor or None,
                "tags": [tag_out(t) for t in tags.get(c.id, [])],
                "channels": [
                    {"id": ch, "transports": [transports[ch]]}
                    for ch in sorted(channels.get(c.id, set()))
                ],
                "created": iso(c.created),
            }
        )
    return out


def attachment_out(att: Attachment | Record) -> dict[str, Any]:
    return {
        "id": att.id,
        "name": att.filename,
        "link": f"/v1/attachments/{att.id}",
        "content_type": att.content_type,
        "size": att.size,
        "inline": att.inline,
        "content_id": att.content_id,
    }


def messages_out(session: Session, messages: Sequence[Message | Record]) -> list[dict[str, Any]]:
    if not messages:
        return []
    atts = attachment_rows_of(session, [m.id for m in messages], company_id=messages[0].company_id)
    return [message_out(m, atts.get(m.id, [])) for m in messages]


def message_out(m: Message | Record, atts: Sequence[Attachment | Record]) -> dict[str, Any]:
    return {
        "id": m.id,
        "text": m.text,
        "type": m.type,
        "transport": m.transport,
        "read": int(m.read),
        "created": iso(m.created),
        "operator_id": m.operator_id,
        "channel_id": m.channel_id,
        "dialog_id": m.dialog_id,
        "client_id": m.client_id,
        "request_id": m.request_id,
        "attachments": [attachment_out(a) for a in atts],
        "recipient_status": m.delivery_status,
        "external_id": m.external_id,
        # [ext] e-mail
        "subject": m.subject,
        "html": m.html,
        "quoted_text": m.quoted_text,
        "signature": m.signature,
        "email": {
            "from": m.from_email,
            "from_name": m.from_name,
            "to": list(m.to or []),
            "cc": list(m.cc or []),
            "bcc": list(m.bcc or []),
            "reply_to": list(m.reply_to or []),
            "message_id": m.email_message_id,
            "in_reply_to": m.in_reply_to,
            "references": list(m.references or []),
        },
        "is_auto_reply": m.is_auto_reply,
        "is_bounce": m.is_bounce,
        "imported": m.imported,
        "hidden": m.hidden,
        "hidden_reason": m.hidden_reason,
        "parse_error": m.parse_error,
        "delivery_status": m.delivery_status,
        "send_at": iso(m.send_at),
        "sent_at": iso(m.sent_at),
        "error": m.error,
        "recipient_errors": m.recipient_errors or {},
    }


@cache
def _messages_by_id() -> Select[Any]:
    """The messages (all their columns) of a company with these ids (built once: see
    :func:`atendo.kit.db.records`)."""
    columns = Message.__table__.c
    return select(*columns).where(
        columns.company_id == bindparam("company_id"),
        columns.id.in_(bindparam("ids", expanding=True)),
    )


def dialogs_out(session: Session, dialogs: Sequence[Dialog | Record]) -> list[dict[str, Any]]:
    last_ids = [d.last_message_id for d in dialogs if d.last_message_id]
    last: dict[int, Record] = {}
    if last_ids:
        params = {"company_id": dialogs[0].company_id, "ids": last_ids}
        last = {m.id: m for m in records(session, _messages_by_id(), params)}
    out = []
    for d in dialogs:
        msg = last.get(d.last_message_id or 0)
        out.append(
            {
                "id": d.id,
                "state": d.state,
                "begin": iso(d.begin),
                "end": iso(d.end),
                "operator_id": d.operator_id,
                "group_id": d.group_id,
                "client_id": d.client_id,
                "channel_id": d.channel_id,
                "recipients": list(d.recipients or []),
                "subject": d.subject,
                "unread": d.unread,
                "last_message": message_out(msg, []) if msg else None,
            }
        )
    return out


def operator_out(session: Session, op: Operator) -> dict[str, Any]:
    return {
        "id": op.id,
        "email": op.email,
        "first_name": op.first_name,
        "last_name": op.last_name,
        "role": op.role,
        "online": int(op.online),
        "opened_dialogs": opened_dialogs_count(
            session, company_id=op.company_id, operator_id=op.id
        ),
        "last_visit": iso(op.last_visit),
        "status": op.status,
        "max_open_dialogs": op.max_open_dialogs,
        "new_chats_unavailable": op.new_chats_unavailable,
        "language": op.language,
    }


def timeline_out(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "operator_id": e.operator_id,
            "actor": e.actor,
            "details": e.details or {},
            "created": iso(e.created),
        }
        for e in entries
    ]


def group_out(group: OperatorGroup, members: list[GroupMember]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "rule": group.rule,
        "operators": [{"id": m.operator_id, "skill": m.skill} for m in members],
        "operator_ids": [m.operator_id for m in members],
        "members": [{"operator_id": m.operator_id, "skill": m.skill} for m in members],
    }


def template_out(t: Template) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "command": t.command,
        "text": t.text,
        "created": iso(t.created),
    }
