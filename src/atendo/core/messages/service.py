"""Messages: reading them, recording their history and events, statistics.

The outbox state machine (queued → sending → sent …) is :mod:`atendo.core.messages.outbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, select
from sqlalchemy.orm import Session

from atendo.core.clients.models import Client
from atendo.core.clients.service import client_payloads
from atendo.core.enums import EventType, MessageType
from atendo.core.errors import NotFound
from atendo.core.events.service import emit_rows, event_row
from atendo.core.messages.models import Attachment, Message, MessageStatusEvent
from atendo.kit.clock import iso, utcnow
from atendo.kit.db import Record, entities, get_scoped, records, table_rows
from atendo.kit.pagination import Page, read_page


def get_message(session: Session, *, company_id: int, message_id: int) -> Message:
    message = get_scoped(session, Message, message_id, company_id=company_id)
    if message is None:
        raise NotFound()
    return message


def attachments_of(
    session: Session, message_ids: Sequence[int], *, company_id: int
) -> dict[int, list[Attachment]]:
    if not message_ids:
        return {}
    return _by_message(
        entities(
            session,
            select(Attachment)
            .where(Attachment.company_id == company_id, Attachment.message_id.in_(message_ids))
            .order_by(Attachment.id),
        )
    )


def attachment_rows_of(
    session: Session, message_ids: Sequence[int], *, company_id: int
) -> dict[int, list[Record]]:
    """:func:`attachments_of` as plain rows of the ``attachments`` columns (a list that is
    only serialised)."""
    if not message_ids:
        return {}
    params = {"company_id": company_id, "ids": list(message_ids)}
    return _by_message(records(session, _attachments_of_messages(), params))


def _by_message(attachments: list[Any]) -> dict[int, list[Any]]:
    """Attachments (objects or rows) grouped by their message, in the order given."""
    out: dict[int, list[Any]] = {}
    for att in attachments:
        out.setdefault(att.message_id, []).append(att)
    return out


@cache
def _attachments_of_messages() -> Select[Any]:
    """The attachments (all their columns) of these messages of a company, in their order
    (built once: see :func:`atendo.kit.db.records`)."""
    columns = Attachment.__table__.c
    return (
        select(*columns)
        .where(
            columns.company_id == bindparam("company_id"),
            columns.message_id.in_(bindparam("ids", expanding=True)),
        )
        .order_by(columns.id)
    )


def status_history(
    session: Session, *, company_id: int, message_id: int
) -> list[MessageStatusEvent]:
    return list(
        session.scalars(
            select(MessageStatusEvent)
            .where(
                MessageStatusEvent.company_id == company_id,
                MessageStatusEvent.message_id == message_id,
            )
            .order_by(MessageStatusEvent.id)
        )
    )


def record_status(session: Session, *, message: Message, status: str, detail: str = "") -> None:
    session.add(
        MessageStatusEvent(
            company_id=message.company_id, message_id=message.id, status=status, detail=detail
        )
    )


def record_statuses(session: Session, entries: Sequence[tuple[Message, str, str]]) -> None:
    """Many ``(message, status, detail)`` history lines with one INSERT."""
    if entries:
        now = utcnow()
        session.execute(
            insert(MessageStatusEvent),
            [
                {
                    "company_id": m.company_id,
                    "message_id": m.id,
                    "status": status,
                    "detail": detail,
                    "created": now,
                }
                for m, status, detail in entries
            ],
        )


def list_messages(
    session: Session,
    *,
    company_id: int,
    page: Page,
    order: str = "desc",
    capped: bool = False,
    **filters: Any,
) -> tuple[list[Message], int]:
    """The company's messages by the filters of :func:`messages_select`, newest first (``order``
    asc: oldest), and how many there are (``capped``: counted by
    :func:`atendo.kit.pagination.count_capped`, the API's lists)."""
    stmt = messages_select(session, company_id=company_id, **filters)
    ordering = Message.id.asc() if order == "asc" else Message.id.desc()
    return read_page(session, stmt, page, ordering=ordering, capped=capped, fetch=entities)


def list_message_rows(
    session: Session,
    *,
    company_id: int,
    page: Page,
    order: str = "desc",
    capped: bool = False,
    **filters: Any,
) -> tuple[list[Record], int]:
    """:func:`list_messages` as plain rows of the ``messages`` columns, for a list that is only
    serialised (the API's): a fraction of the CPU of building ORM objects."""
    stmt = messages_select(session, company_id=company_id, **filters)
    ordering = Message.id.asc() if order == "asc" else Message.id.desc()
    return read_page(session, stmt, page, ordering=ordering, capped=capped, fetch=table_rows)


def messages_select(
    session: Session,
    *,
    company_id: int,
    dialog_id: int | None = None,
    client_id: int | None = None,
    channel_id: int | None = None,
    transport: str | None = None,
    type: str | None = None,
    read: bool | None = None,
    operator_id: int | None = None,
    start_date: datetime | None = None,
    finish_date: datetime | None = None,
    start_id: int | None = None,
    request_id: int | None = None,
    include_hidden: bool = False,
    only_hidden: bool = False,
    q: str | None = None,
) -> Select[Message]:
    """The company's messages by any combination of these filters. ``q``: accent- and
    case-insensitive over subject and text, through the search index (the edge calls
    ``search.service.catch_up`` first)."""
    stmt = select(Message).where(Message.company_id == company_id)
    filters: list[Any] = []
    if q and q.strip():
        from atendo.core.search.service import message_condition

        filters.append(message_condition(session, company_id=company_id, query=q))
    if dialog_id is not None:
        filters.append(Message.dialog_id == dialog_id)
    if client_id is not None:
        filters.append(Message.client_id == client_id)
    if channel_id is not None:
        filters.append(Message.channel_id == channel_id)
    if transport:
        filters.append(Message.transport == transport)
    if type:
        filters.append(Message.type == type)
    if read is not None:
        filters.append(Message.read == read)
    if operator_id is not None:
        filters.append(Message.operator_id == operator_id)
    if start_date is not None:
        filters.append(Message.created >= start_date)
    if finish_date is not None:
        filters.append(Message.created <= finish_date)
    if start_id is not None:
        filters.append(Message.id >= start_id)
    if request_id is not None:
        filters.append(Message.request_id == request_id)
    if only_hidden:
        filters.append(Message.hidden.is_(True))
    elif not include_hidden:
        filters.append(Message.hidden.is_(False))
    if filters:
        stmt = stmt.where(and_(*filters))
    return stmt


def set_read(session: Session, *, company_id: int, message_id: int, read: bool) -> Message:
    message = get_message(session, company_id=company_id, message_id=message_id)
    message.read = read
    session.flush()
    return message


def message_event_payload(session: Session, message: Message) -> dict[str, Any]:
    """The fields webhooks and the panel's live stream carry for a message event."""
    return message_event_payloads(session, [message])[message.id]


def message_event_payloads(
    session: Session,
    messages: Sequence[Message],
    *,
    attachments: dict[int, list[Attachment]] | None = None,
    clients: Sequence[Client] = (),
) -> dict[int, dict[str, Any]]:
    """:func:`message_event_payload` for many messages: one query each for their clients,
    the clients' addresses and the attachments, skipped for what the caller already has."""
    if attachments is None:
        attachments = {}
        for company_id in {m.company_id for m in messages}:
            ids = [m.id for m in messages if m.company_id == company_id]
            attachments.update(attachments_of(session, ids, company_id=company_id))
    known = {c.id: c for c in clients}
    missing = {m.client_id for m in messages if m.client_id and m.client_id not in known}
    if missing:
        known.update(
            (c.id, c)
            for c in session.scalars(
                select(Client).where(
                    Client.company_id.in_({m.company_id for m in messages}),
                    Client.id.in_(missing),
                )
            )
        )
    wanted = {m.client_id for m in messages if m.client_id in known}
    payloads = client_payloads(session, [known[cid] for cid in wanted if cid is not None])
    return {
        m.id: {
            "message_id": m.id,
            "type": m.type,
            "text": m.text,
            "transport": m.transport,
            "client_id": m.client_id,
            "operator_id": m.operator_id,
            "dialog_id": m.dialog_id,
            "channel_id": m.channel_id,
            "request_id": m.request_id,
            "attachments": [
                {"name": a.filename, "link": f"/v1/attachments/{a.id}"}
                for a in attachments.get(m.id, [])
            ],
            "client": payloads.get(m.client_id) if m.client_id else None,
            "subject": m.subject,
            "delivery_status": m.delivery_status,
            "created": iso(m.created),
            **({"buttons": list(m.buttons)} if m.buttons else {}),
        }
        for m in messages
    }


def emit_message_event(
    session: Session,
    *,
    message: Message,
    type: EventType,
    extra: dict[str, Any] | None = None,
    attachments: Sequence[Attachment] | None = None,
    client: Client | None = None,
) -> None:
    """One message event; pass the ``attachments`` and ``client`` you already hold to spare
    their queries."""
    payloads = message_event_payloads(
        session,
        [message],
        attachments=None if attachments is None else {message.id: list(attachments)},
        clients=[client] if client is not None else (),
    )
    emit_message_events(session, [message], type=type, payloads=payloads, extra=extra)


def emit_message_events(
    session: Session,
    messages: Sequence[Message],
    *,
    type: EventType,
    payloads: dict[int, dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """One event per message, the payloads built for the whole batch, one INSERT for all."""
    if payloads is None:
        payloads = message_event_payloads(session, messages)
    emit_rows(
        session,
        [
            event_row(
                company_id=m.company_id,
                type=type,
                payload={**payloads[m.id], **(extra or {})},
                channel_id=m.channel_id,
                dialog_id=m.dialog_id,
            )
            for m in messages
        ],
    )


# --- statistics (GET /v1/statistics) ----------------------------------------------------

STAT_REPORTS = ("dialogs", "messages", "response_time", "ratings")


def statistics(
    session: Session, *, company_id: int, report: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """One report over [start, end) from the stored dialogs and messages.

    ``ratings`` is empty: Atendo does not collect ratings yet (never made-up figures).
    """
    from atendo.core.dialogs.models import Dialog

    if report == "dialogs":
        opened = session.scalar(
            select(func.count(Dialog.id)).where(
                Dialog.company_id == company_id, Dialog.begin >= start, Dialog.begin < end
            )
        )
        closed = session.scalar(
            select(func.count(Dialog.id)).where(
                Dialog.company_id == company_id, Dialog.end >= start, Dialog.end < end
            )
        )
        open_now = session.scalar(
            select(func.count(Dialog.id)).where(
                Dialog.company_id == company_id, Dialog.state == "open"
            )
        )
        return [
            {
                "date": iso(start),
                "opened": opened or 0,
                "closed": closed or 0,
                "open_now": open_now or 0,
            }
        ]
    if report == "messages":
        rows = session.execute(
            select(Message.type, func.count(Message.id))
            .where(
                Message.company_id == company_id,
                Message.created >= start,
                Message.created < end,
            )
            .group_by(Message.type)
            .order_by(Message.type)
        )
        return [{"type": t, "count": n} for t, n in rows]
    if report == "response_time":
        stmt = (
            select(Message.dialog_id, Message.type, Message.operator_id, Message.created)
            .where(
                Message.company_id == company_id,
                Message.created >= start,
                Message.created < end,
                Message.type.in_((MessageType.FROM_CLIENT, MessageType.TO_CLIENT)),
            )
            .order_by(Message.dialog_id, Message.id)
        )
        waiting: dict[int, datetime] = {}
        per_operator: dict[int | None, list[float]] = {}
        for dialog_id, mtype, operator_id, created in session.execute(stmt):
            if dialog_id is None:
                continue
            if mtype == MessageType.FROM_CLIENT:
                waiting.setdefault(dialog_id, created)
            elif dialog_id in waiting:
                asked = waiting.pop(dialog_id)
                per_operator.setdefault(operator_id, []).append((created - asked).total_seconds())
        out = []
        for operator_id, waits in sorted(per_operator.items(), key=lambda kv: kv[0] or 0):
            waits.sort()
            out.append(
                {
                    "operator_id": operator_id,
                    "answers": len(waits),
                    "average_seconds": round(sum(waits) / len(waits), 1),
                    "median_seconds": round(waits[len(waits) // 2], 1),
                }
            )
        return out
    return []
