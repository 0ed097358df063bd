"""Dialogs and requests: opening, assigning, closing, reopening.

A dialog is per (client, channel). A request is one support episode inside it: it opens with
the first client message after the previous one closed, and closes when the dialog closes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from atendo.core.companies.models import AuditEntry
from atendo.core.companies.service import actor_of, record_audit
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.enums import DialogState, EventType, MessageType
from atendo.core.errors import NotFound
from atendo.core.events.service import emit, emit_rows, event_row
from atendo.core.lengths import TooLong
from atendo.core.messages.models import Message
from atendo.core.operators.models import Operator, OperatorGroup
from atendo.core.team.models import DialogRead
from atendo.kit.clock import utcnow
from atendo.kit.db import Fetch, Record, entities, get_scoped, table_rows
from atendo.kit.pagination import Page, count_total, total_bound

TRANSFER_COMMENT_MAX = 1000  # a transfer's note in the timeline (kept in the audit's details)


def get_dialog(session: Session, *, company_id: int, dialog_id: int) -> Dialog:
    dialog = get_scoped(session, Dialog, dialog_id, company_id=company_id)
    if dialog is None:
        raise NotFound()
    return dialog


def find_dialog(
    session: Session, *, company_id: int, client_id: int, channel_id: int
) -> Dialog | None:
    """The client's dialog on that channel: the open one first, else the latest."""
    stmt = (
        select(Dialog)
        .where(
            Dialog.company_id == company_id,
            Dialog.client_id == client_id,
            Dialog.channel_id == channel_id,
        )
        .order_by((Dialog.state == DialogState.OPEN).desc(), Dialog.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def open_dialog(
    session: Session,
    *,
    company_id: int,
    client_id: int,
    channel_id: int,
    recipients: list[str] | None = None,
    operator_id: int | None = None,
    subject: str = "",
) -> Dialog:
    """The client's dialog on the channel, reopened if closed, created if none."""
    dialog = find_dialog(session, company_id=company_id, client_id=client_id, channel_id=channel_id)
    if dialog is None:
        dialog = new_dialog(company_id, client_id, channel_id, list(recipients or []), subject)
        dialog.operator_id = operator_id
        session.add(dialog)
        session.flush()
        return dialog
    if dialog.state != DialogState.OPEN:
        dialog.state = DialogState.OPEN.value
        dialog.begin = utcnow()
        dialog.end = None
    if recipients:
        dialog.recipients = merge_recipients(dialog.recipients, recipients)
    if operator_id is not None and dialog.operator_id is None:
        dialog.operator_id = operator_id
    session.flush()
    return dialog


def new_dialog(
    company_id: int, client_id: int, channel_id: int, recipients: list[str], subject: str
) -> Dialog:
    """An open dialog, not yet added: for a client known to have none on the channel."""
    return Dialog(
        company_id=company_id,
        client_id=client_id,
        channel_id=channel_id,
        state=DialogState.OPEN.value,
        recipients=recipients,
        subject=subject,
        begin=utcnow(),
    )


def merge_recipients(current: list[str], more: list[str]) -> list[str]:
    seen = {a.lower() for a in current}
    merged = list(current)
    for address in more:
        if address.lower() not in seen:
            seen.add(address.lower())
            merged.append(address)
    return merged


def current_request(session: Session, *, dialog: Dialog) -> Request | None:
    stmt = (
        select(Request)
        .where(
            Request.company_id == dialog.company_id,
            Request.dialog_id == dialog.id,
            Request.state == DialogState.OPEN,
        )
        .order_by(Request.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def start_dialog(
    session: Session, *, company_id: int, client_id: int, channel_id: int
) -> tuple[Dialog, Request]:
    """A new open dialog and its open request, for a client known to have no dialog on the
    channel (one created just now): nothing is looked up."""
    dialog = new_dialog(company_id, client_id, channel_id, [], "")
    session.add(dialog)
    session.flush()
    request = new_request(dialog)
    session.add(request)
    session.flush()
    return dialog, request


def ensure_request(session: Session, *, dialog: Dialog) -> tuple[Request, bool]:
    """The dialog's open request, or a new one; returns (request, created)."""
    request = current_request(session, dialog=dialog)
    if request is not None:
        return request, False
    request = new_request(dialog)
    session.add(request)
    session.flush()
    return request, True


def new_request(dialog: Dialog) -> Request:
    """An open request, not yet added: for a dialog known to have none open."""
    return Request(
        company_id=dialog.company_id,
        dialog_id=dialog.id,
        client_id=dialog.client_id,
        state=DialogState.OPEN.value,
    )


def touch_dialog(session: Session, *, dialog: Dialog, message: Message, flush: bool = True) -> None:
    dialog.last_message_id = message.id
    dialog.last_message_at = message.created
    if message.type == MessageType.FROM_CLIENT and not message.read and not message.hidden:
        dialog.unread = (dialog.unread or 0) + 1
    if message.subject and not dialog.subject:
        dialog.subject = message.subject
    if flush:  # a batch flushes once for all of its messages
        session.flush()


def close_dialog(
    session: Session, *, company_id: int, dialog_id: int, by_operator_id: int | None = None
) -> Dialog:
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    if dialog.state == DialogState.CLOSED:
        return dialog
    now = utcnow()
    dialog.state = DialogState.CLOSED.value
    dialog.end = now
    dialog.queued_at = None
    request = current_request(session, dialog=dialog)
    if request is not None:
        request.state = DialogState.CLOSED.value
        request.end = now
    session.flush()
    _timeline(session, dialog, "closed", by_operator_id)
    emit(
        session,
        company_id=company_id,
        type=EventType.CLOSE_DIALOG,
        payload={
            **_dialog_payload(dialog, by_operator_id),
            "request_id": request.id if request else None,
        },
        channel_id=dialog.channel_id,
        dialog_id=dialog.id,
    )
    return dialog


def reopen_dialog(
    session: Session, *, company_id: int, dialog_id: int, by_operator_id: int | None = None
) -> Dialog:
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    if dialog.state != DialogState.OPEN:
        dialog.state = DialogState.OPEN.value
        dialog.begin = utcnow()
        dialog.end = None
        session.flush()
        _timeline(session, dialog, "reopened", by_operator_id)
        emit(
            session,
            company_id=company_id,
            type=EventType.REOPEN_DIALOG,
            payload=_dialog_payload(dialog, by_operator_id),
            channel_id=dialog.channel_id,
            dialog_id=dialog.id,
        )
    return dialog


def _dialog_payload(dialog: Dialog, by_operator_id: int | None) -> dict[str, Any]:
    """What a close or reopen event says of its dialog (the webhooks' payload)."""
    return {
        "dialog_id": dialog.id,
        "client_id": dialog.client_id,
        "channel_id": dialog.channel_id,
        "operator_id": dialog.operator_id,
        "by_operator_id": by_operator_id,
    }


def _timeline(
    session: Session,
    dialog: Dialog,
    kind: str,
    by_operator_id: int | None,
    details: dict[str, Any] | None = None,
    actor: str = "api",
) -> None:
    """A named audit entry about the dialog: one line of its timeline."""
    record_audit(
        session,
        company_id=dialog.company_id,
        actor=actor_of(by_operator_id, actor),
        action=f"{kind} dialog {dialog.id}",
        kind=kind,
        operator_id=by_operator_id,
        dialog_id=dialog.id,
        details=details,
    )


def close_request(session: Session, *, company_id: int, request_id: int) -> Request:
    request = get_request(session, company_id=company_id, request_id=request_id)
    if request.state != DialogState.CLOSED:
        request.state = DialogState.CLOSED.value
        request.end = utcnow()
        session.flush()
    return request


def get_request(session: Session, *, company_id: int, request_id: int) -> Request:
    request = get_scoped(session, Request, request_id, company_id=company_id)
    if request is None:
        raise NotFound()
    return request


def assign_dialog(
    session: Session,
    *,
    company_id: int,
    dialog_id: int,
    operator_id: int | None = None,
    group_id: int | None = None,
    by_operator_id: int | None = None,
    comment: str = "",
    routed: bool = False,
) -> Dialog:
    """Give the dialog to an operator, to a group (it then waits in the queue for one of the
    group's members), or to nobody; written in the timeline with who did it and the comment
    (``routed``: the router did it), and announced as ``dialog_transferred``."""
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    if operator_id is not None:
        op = get_scoped(session, Operator, operator_id, company_id=company_id)
        if op is None:
            raise NotFound("Operator not found")
    if group_id is not None:
        group = get_scoped(session, OperatorGroup, group_id, company_id=company_id)
        if group is None:
            raise NotFound("Group not found")
        dialog.group_id = group_id
    comment = (comment or "").strip()
    if len(comment) > TRANSFER_COMMENT_MAX:
        raise TooLong(field="comment", limit=TRANSFER_COMMENT_MAX)
    previous = dialog.operator_id
    dialog.operator_id = operator_id
    if operator_id is not None:
        dialog.queued_at = None
    elif group_id is not None and dialog.state == DialogState.OPEN:
        dialog.queued_at = utcnow()  # the router hands it to one of the group's members
    else:
        dialog.queued_at = None
    session.flush()
    kind = "assigned" if previous is None and operator_id is not None else "transferred"
    if operator_id is None and group_id is None:
        kind = "unassigned"
    _timeline(
        session,
        dialog,
        kind,
        by_operator_id,
        {
            "operator_id": operator_id,
            "previous_operator_id": previous,
            "group_id": group_id,
            "comment": comment,
            "routed": routed,
        },
        actor="routing" if routed else "api",
    )
    emit(
        session,
        company_id=company_id,
        type=EventType.DIALOG_TRANSFERRED,
        payload={
            "dialog_id": dialog.id,
            "client_id": dialog.client_id,
            "channel_id": dialog.channel_id,
            "operator_id": operator_id,
            "previous_operator_id": previous,
            "group_id": dialog.group_id,
            "comment": comment,
            "routed": routed,
            "by_operator_id": by_operator_id,
        },
        channel_id=dialog.channel_id,
        dialog_id=dialog.id,
    )
    return dialog


def assign_routed(session: Session, *, company_id: int, pairs: list[tuple[Dialog, int]]) -> None:
    """The router's assignments of one round, written together: each dialog to its operator
    (queue left), its timeline line and its ``dialog_transferred`` event, as one UPDATE per
    dialog in one flush and one INSERT each for the lines and the events. The same outcome as
    ``assign_dialog(..., routed=True)`` per dialog, for the many a busy queue hands out."""
    if not pairs:
        return
    now = utcnow()
    audit_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for dialog, operator_id in pairs:
        if dialog.company_id != company_id:
            raise NotFound()
        previous = dialog.operator_id
        dialog.operator_id = operator_id
        dialog.queued_at = None
        details = {
            "operator_id": operator_id,
            "previous_operator_id": previous,
            "group_id": None,
            "comment": "",
            "routed": True,
        }
        audit_rows.append(
            {
                "company_id": company_id,
                "actor": "routing",
                "action": f"assigned dialog {dialog.id}",
                "kind": "assigned" if previous is None else "transferred",
                "operator_id": None,
                "dialog_id": dialog.id,
                "details": details,
                "created": now,
            }
        )
        event_rows.append(
            event_row(
                company_id=company_id,
                type=EventType.DIALOG_TRANSFERRED,
                payload={
                    "dialog_id": dialog.id,
                    "client_id": dialog.client_id,
                    "channel_id": dialog.channel_id,
                    "operator_id": operator_id,
                    "previous_operator_id": previous,
                    "group_id": dialog.group_id,
                    "comment": "",
                    "routed": True,
                    "by_operator_id": None,
                },
                channel_id=dialog.channel_id,
                dialog_id=dialog.id,
            )
        )
    session.flush()
    session.execute(insert(AuditEntry), audit_rows)
    emit_rows(session, event_rows)


def mark_dialog_read(
    session: Session, *, company_id: int, dialog_id: int, operator_id: int | None = None
) -> None:
    """The dialog was read: by its assignee (or, unassigned, by anyone; or through the API,
    ``operator_id`` None) its messages and its counter; by anyone else only their own read
    position (``DialogRead``), so a supervisor looking in leaves the assignee's badge."""
    dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
    if operator_id is None or dialog.operator_id in (None, operator_id):
        if dialog.unread:
            session.execute(
                update(Message)
                .where(
                    Message.company_id == company_id,
                    Message.dialog_id == dialog.id,
                    Message.read.is_(False),
                )
                .values(read=True)
            )
        dialog.unread = 0
    if operator_id is not None:
        seen = dialog.last_message_id or 0
        row = session.scalar(
            select(DialogRead).where(
                DialogRead.company_id == company_id,
                DialogRead.dialog_id == dialog.id,
                DialogRead.operator_id == operator_id,
            )
        )
        if row is None:
            session.add(
                DialogRead(
                    company_id=company_id,
                    dialog_id=dialog.id,
                    operator_id=operator_id,
                    last_read_message_id=seen,
                )
            )
        elif row.last_read_message_id < seen:
            row.last_read_message_id = seen
    session.flush()


def unread_for(session: Session, *, operator_id: int, dialogs: list[Dialog]) -> dict[int, int]:
    """What each dialog shows as unread to this operator: the dialog's counter when it is
    theirs (or nobody's); else the client's messages after their own read position (the
    assignee's counter when they never opened it)."""
    out = {d.id: d.unread or 0 for d in dialogs}
    others = [d for d in dialogs if d.operator_id not in (None, operator_id)]
    if not others:
        return out
    reads = dict(
        session.execute(
            select(DialogRead.dialog_id, DialogRead.last_read_message_id).where(
                DialogRead.company_id == dialogs[0].company_id,
                DialogRead.operator_id == operator_id,
                DialogRead.dialog_id.in_([d.id for d in others]),
            )
        ).all()
    )
    for d in others:
        if d.id in reads:
            out[d.id] = (
                session.scalar(
                    select(func.count(Message.id)).where(
                        Message.company_id == d.company_id,
                        Message.dialog_id == d.id,
                        Message.type == MessageType.FROM_CLIENT,
                        Message.hidden.is_(False),
                        Message.id > reads[d.id],
                    )
                )
                or 0
            )
    return out


def dialog_conditions(
    session: Session,
    *,
    company_id: int,
    operator_id: int | None = None,
    state: str | None = None,
    channel_id: int | None = None,
    client_id: int | None = None,
    unassigned: bool = False,
    queued: bool = False,
    visible_to_operator_id: int | None = None,
    only_own: bool = False,
    search: str | None = None,
    unanswered: bool = False,
    group_id: int | None = None,
    tag_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of :func:`list_dialogs` (the company's first)."""
    where: list[ColumnElement[bool]] = [Dialog.company_id == company_id]
    if operator_id is not None:
        where.append(Dialog.operator_id == operator_id)
    if unassigned:
        where.append(Dialog.operator_id.is_(None))
    if queued:
        where.append(and_(Dialog.queued_at.is_not(None), Dialog.operator_id.is_(None)))
    if visible_to_operator_id is not None:
        where.append(
            Dialog.operator_id == visible_to_operator_id
            if only_own
            else or_(Dialog.operator_id == visible_to_operator_id, Dialog.operator_id.is_(None))
        )
    if state:
        where.append(Dialog.state == state)
    if channel_id is not None:
        where.append(Dialog.channel_id == channel_id)
    if client_id is not None:
        where.append(Dialog.client_id == client_id)
    if unanswered:
        last_type = (
            select(Message.type)
            .where(Message.company_id == company_id, Message.id == Dialog.last_message_id)
            .scalar_subquery()
        )
        where.append(and_(Dialog.state == DialogState.OPEN, last_type == MessageType.FROM_CLIENT))
    if group_id is not None:
        where.append(Dialog.group_id == group_id)
    if tag_id is not None:
        where.append(_tagged(company_id, tag_id))
    if since is not None:
        where.append(func.coalesce(Dialog.last_message_at, Dialog.begin) >= since)
    if until is not None:
        where.append(func.coalesce(Dialog.last_message_at, Dialog.begin) < until)
    if search and search.strip():
        from atendo.core.search.service import dialog_condition

        where.append(dialog_condition(session, company_id=company_id, query=search))
    return where


def count_dialogs(
    session: Session,
    *,
    company_id: int,
    buckets: dict[str, dict[str, Any]],
    **common: Any,
) -> dict[str, int]:
    """How many dialogs each bucket finds, in one query: a bucket is the filters of
    :func:`dialog_conditions` it adds to ``common`` (the filters all buckets share)."""
    if not buckets:
        return {}
    names = list(buckets)
    counts = [
        func.count()
        .filter(and_(*dialog_conditions(session, company_id=company_id, **buckets[name])))
        .label(f"b{i}")
        for i, name in enumerate(names)
    ]
    row = session.execute(
        select(*counts).where(*dialog_conditions(session, company_id=company_id, **common))
    ).one()
    return {name: int(row[i] or 0) for i, name in enumerate(names)}


def list_dialogs(
    session: Session,
    *,
    company_id: int,
    page: Page,
    own_first_for: int | None = None,
    order: str = "desc",
    count_only: bool = False,
    capped: bool = False,
    with_total: bool = True,
    **filters: Any,
) -> tuple[list[Dialog], int]:
    """The company's dialogs by any combination of the filters of :func:`dialog_conditions`
    (``search``: see :mod:`atendo.core.search.service`), newest activity first; and how many
    there are (``capped``: counted by :func:`atendo.kit.pagination.count_capped`, the API's
    lists; ``with_total=False``: not counted, -1)."""
    return _list_dialogs(
        session,
        company_id=company_id,
        page=page,
        own_first_for=own_first_for,
        order=order,
        count_only=count_only,
        capped=capped,
        with_total=with_total,
        fetch=entities,
        filters=filters,
    )


def list_dialog_rows(
    session: Session,
    *,
    company_id: int,
    page: Page,
    order: str = "desc",
    capped: bool = False,
    **filters: Any,
) -> tuple[list[Record], int]:
    """:func:`list_dialogs` as plain rows of the ``dialogs`` columns, for a list that is only
    serialised (the API's): a fraction of the CPU of building ORM objects."""
    return _list_dialogs(
        session,
        company_id=company_id,
        page=page,
        own_first_for=None,
        order=order,
        count_only=False,
        capped=capped,
        with_total=True,
        fetch=table_rows,
        filters=filters,
    )


def _list_dialogs(
    session: Session,
    *,
    company_id: int,
    page: Page,
    own_first_for: int | None,
    order: str,
    count_only: bool,
    capped: bool,
    with_total: bool,
    fetch: Fetch,
    filters: dict[str, Any],
) -> tuple[list[Any], int]:
    queued = bool(filters.get("queued"))
    searched = _searched(session, company_id, page, filters) if capped else None
    if searched is not None:
        stmt, known_total = searched
    else:
        stmt = select(Dialog).where(*dialog_conditions(session, company_id=company_id, **filters))
        known_total = None
    if count_only:
        return [], count_total(session, stmt, page, capped=False)
    rows: list[Any]
    if queued:
        rows = _page(
            session, stmt, page, own_first_for, fetch, Dialog.queued_at.asc(), Dialog.id.asc()
        )
    elif order == "waiting":  # the client's oldest unanswered message first
        last_type = (
            select(Message.type)
            .where(Message.company_id == company_id, Message.id == Dialog.last_message_id)
            .scalar_subquery()
        )
        rows = _page(
            session,
            stmt,
            page,
            own_first_for,
            fetch,
            case((last_type == MessageType.FROM_CLIENT, 0), else_=1),
            Dialog.last_message_at.asc(),
            Dialog.id.asc(),
        )
    elif order == "asc":
        rows = _own_first(session, stmt, page, own_first_for, fetch, ascending=True)
    else:
        rows = _own_first(session, stmt, page, own_first_for, fetch, ascending=False)
    if not with_total:
        return rows, -1
    if known_total is not None:
        return rows, known_total
    return rows, count_total(session, stmt, page, capped=capped, shown=len(rows))


def _searched(
    session: Session, company_id: int, page: Page, filters: dict[str, Any]
) -> tuple[Select[Dialog], int] | None:
    """A searched list counted up to its bound (the API's ``q``), on PostgreSQL: the ids of the
    dialogs found (with every other filter), read first — a ``UNION`` of the search's branches,
    each by its own index (a client's dialogs, a message's, a request's), up to the bound + 1 —
    then (the statement of the page, the total). The page is read among those ids, and their
    number is the total: no ``COUNT``. (The ``OR`` of the branches is one sequential scan of
    the company's dialogs to count, and walks their index by activity until a page is found.)
    Past the bound, the ``OR`` form reads the page and the total is the bound + 1. None: not a
    search, or not PostgreSQL (``= ANY`` of an array)."""
    search = filters.get("search")
    if not (search and search.strip()) or session.get_bind().dialect.name != "postgresql":
        return None
    from atendo.core.search.service import dialog_branches

    branches = dialog_branches(session, company_id=company_id, query=search)
    if branches is None:
        return None
    rest = dialog_conditions(session, company_id=company_id, **{**filters, "search": None})
    found = union(*(select(Dialog.id).where(*rest, branch) for branch in branches)).subquery()
    bound = total_bound(page)
    ids = list(session.scalars(select(found.c.id).limit(bound + 1)))
    if len(ids) > bound:
        return select(Dialog).where(*rest, or_(*branches)), bound + 1
    among = Dialog.id == any_(bindparam("found_ids", ids, type_=ARRAY(Integer)))
    return select(Dialog).where(Dialog.company_id == company_id, among), len(ids)


def _page(
    session: Session,
    stmt: Select[Dialog],
    page: Page,
    own_first_for: int | None,
    fetch: Fetch,
    *ordering: ColumnElement[Any],
) -> list[Any]:
    first = (
        [] if own_first_for is None else [case((Dialog.operator_id == own_first_for, 0), else_=1)]
    )
    return fetch(session, stmt.order_by(*first, *ordering).limit(page.limit).offset(page.offset))


def _own_first(
    session: Session,
    stmt: Select[Dialog],
    page: Page,
    own_first_for: int | None,
    fetch: Fetch,
    *,
    ascending: bool,
) -> list[Any]:
    """A page by last activity; with ``own_first_for``, that operator's dialogs before the
    others'. Read as two index-ordered lists (theirs, the rest), each up to the page's end, and
    joined here: one ``ORDER BY CASE …`` would sort every dialog of the company for a page."""
    ordering = (
        (Dialog.last_message_at.asc(), Dialog.id.asc())
        if ascending
        else (Dialog.last_message_at.desc(), Dialog.id.desc())
    )
    if own_first_for is None:
        return _page(session, stmt, page, None, fetch, *ordering)
    end = page.offset + page.limit
    own = fetch(
        session, stmt.where(Dialog.operator_id == own_first_for).order_by(*ordering).limit(end)
    )
    rest: list[Any] = []
    if len(own) < end:
        others = or_(Dialog.operator_id != own_first_for, Dialog.operator_id.is_(None))
        rest = fetch(session, stmt.where(others).order_by(*ordering).limit(end - len(own)))
    return (own + rest)[page.offset : end]


def _tagged(company_id: int, tag_id: int) -> ColumnElement[bool]:
    """Dialogs whose client or one of whose requests carries the tag."""
    from atendo.core.tags.models import TagAssignment

    on = select(TagAssignment.assignee_id).where(
        TagAssignment.company_id == company_id, TagAssignment.tag_id == tag_id
    )
    return or_(
        Dialog.client_id.in_(on.where(TagAssignment.assignee_type == "client")),
        Dialog.id.in_(
            select(Request.dialog_id).where(
                Request.company_id == company_id,
                Request.id.in_(on.where(TagAssignment.assignee_type == "request")),
            )
        ),
    )


def close_requests(
    session: Session,
    *,
    company_id: int,
    request_id: int | None = None,
    client_id: int | None = None,
) -> list[Request]:
    """Close a request (or every open one of a client) and the dialogs they belong to."""
    if request_id is not None:
        targets = [get_request(session, company_id=company_id, request_id=request_id)]
    elif client_id is not None:
        targets = list(
            session.scalars(
                select(Request)
                .where(
                    Request.company_id == company_id,
                    Request.client_id == client_id,
                    Request.state == DialogState.OPEN,
                )
                .order_by(Request.id)
            )
        )
    else:
        from atendo.core.errors import Invalid

        raise Invalid(
            "request_id or client_id is required",
            {"request_id": ["required"]},
            code="request.target_required",
        )
    for request in targets:
        dialog = get_dialog(session, company_id=company_id, dialog_id=request.dialog_id)
        if request.state == DialogState.OPEN and dialog.state == DialogState.OPEN:
            close_dialog(session, company_id=company_id, dialog_id=dialog.id)
        close_request(session, company_id=company_id, request_id=request.id)
    return targets
