"""The chats screen: the dialog list (filters, search, load more, live) and the dialog pane."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from atendo.core.channels.service import get_channel, list_channels
from atendo.core.clients.service import get_client, identities
from atendo.core.dialogs.service import current_request, mark_dialog_read
from atendo.core.messages.drafts import get_draft
from atendo.core.operators.models import Operator
from atendo.core.operators.service import list_groups, list_operators
from atendo.core.search.service import catch_up
from atendo.core.tags.service import list_tags, tags_of
from atendo.core.team.mentions import handle
from atendo.core.team.presence import fresh_for, leave_chat, others_on_chat, see_chat
from atendo.core.templates.service import list_templates
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser, current_user, runtime_of
from atendo.panel.notices import unread_total
from atendo.panel.render import render
from atendo.panel.views import (
    PAGE_SIZE,
    WHO,
    ListFilters,
    composer_fields,
    conversation,
    dialog_rows,
    list_page,
    message_views,
    pending_outbound,
    signature_preview,
    state_counts,
    timeline,
    view_counts,
    visible_dialog,
)
from atendo.runtime import Runtime
from atendo.transports import registry

router = APIRouter()
User = Annotated[PanelUser, Depends(current_user)]


def _id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


FILTER_KEYS = ("who", "state", "channel", "q", "sort", "operator", "group", "tag", "since", "until")


def list_filters(q: Mapping[str, Any], remembered: str = "") -> ListFilters:
    """The list's filters from the query string or a form (anything malformed is ignored,
    never a 500); with none given, the operator's ``remembered`` last choice."""
    if remembered and not any(k in q for k in FILTER_KEYS):
        q = QueryParams(remembered)
    who = str(q.get("who", "all"))
    state = str(q.get("state", "open"))
    return ListFilters(
        who=who if who in WHO else "all",
        state=state if state in ("open", "closed", "") else "open",
        channel_id=_id(str(q.get("channel", ""))),
        q=str(q.get("q", "")).strip()[:200],
        sort="waiting" if q.get("sort") == "waiting" else "",
        operator_id=_id(str(q.get("operator", ""))),
        group_id=_id(str(q.get("group", ""))),
        tag_id=_id(str(q.get("tag", ""))),
        since=_day(str(q.get("since", ""))),
        until=_day(str(q.get("until", ""))),
    )


def _int(request: Request, name: str, default: int, top: int = 10_000) -> int:
    value = request.query_params.get(name, "")
    return max(0, min(top, int(value))) if value.isdigit() and len(value) < 10 else default


def index_for_search(request: Request, user: PanelUser, filters: ListFilters) -> None:
    """Before a search: bring the message index up to date (its own short unit of work)."""
    if filters.q:
        with runtime_of(request).db.transaction() as session:
            catch_up(session, company_id=user.company_id)


def _list_context(
    session: Session, user: PanelUser, request: Request, *, page: bool = True
) -> dict[str, Any]:
    """The list's context. ``page``: for the whole chats page (the filters' choices, the tabs'
    and the states' counts); else for the list fragment, which counts only when it shows the
    counts (:func:`shows_counts`) and reads no choices (its filters are on the page already)."""
    remembered = session.scalar(
        select(Operator.last_filter).where(
            Operator.company_id == user.company_id, Operator.id == user.id
        )
    )
    filters = list_filters(request.query_params, remembered or "")
    offset = _int(request, "offset", 0)
    limit = _int(request, "limit", PAGE_SIZE, 200) or PAGE_SIZE
    ctx: dict[str, Any] = {"filters": filters, "show_counts": page or shows_counts(request)}
    if ctx["show_counts"]:
        rows, total = dialog_rows(session, user, filters, offset=offset, limit=limit)
        more = offset + len(rows) < total
        ctx["total"] = total
        ctx["counts"] = state_counts(session, user, filters)
        ctx["view_counts"] = view_counts(session, user, filters)
    else:
        rows, more = list_page(session, user, filters, offset=offset, limit=limit)
    ctx["rows"] = rows
    ctx["next_offset"] = offset + len(rows) if more else None
    if page:
        operators, _n = list_operators(session, company_id=user.company_id, page=Page(200, 0))
        tags, _t = list_tags(session, company_id=user.company_id, page=Page(500, 0))
        groups = list_groups(session, company_id=user.company_id)
        ctx["channels"] = list_channels(session, company_id=user.company_id)[0]
        ctx["filter_operators"] = [o for o in operators if o.role != "disabled"]
        ctx["filter_groups"] = [g for g, _members in groups]
        ctx["filter_tags"] = tags
    return ctx


def shows_counts(request: Request) -> bool:
    """Whether the list fragment brings the tabs' counts and the summary along: the first
    page asked by the panel itself (htmx), never "load more"."""
    return not request.query_params.get("offset") and bool(request.headers.get("hx-request"))


def _pane_context(
    session: Session, user: PanelUser, dialog_id: int, images_for: set[int], runtime: Runtime
) -> dict[str, Any]:
    dialog = visible_dialog(session, user, dialog_id)
    client = get_client(session, company_id=user.company_id, client_id=dialog.client_id)
    channel = get_channel(
        session, company_id=user.company_id, channel_id=dialog.channel_id, include_deleted=True
    )
    views = message_views(session, dialog, images_for=images_for)
    request_row = current_request(session, dialog=dialog)
    last_subject = next((v.m.subject for v in reversed(views) if v.m.subject), dialog.subject)
    operators, _n = list_operators(session, company_id=user.company_id, page=Page(200, 0))
    templates, _t = list_templates(session, company_id=user.company_id, page=Page(200, 0))
    tags, _g = list_tags(session, company_id=user.company_id, page=Page(200, 0))
    fields = composer_fields(channel)
    visible_ops = [o for o in operators if o.role != "disabled"]
    transport = registry.find(channel.transport)
    contributed = (
        transport.composer(
            session, runtime=runtime, company_id=user.company_id, dialog_id=dialog_id
        )
        if transport is not None
        else ()
    )
    draft = get_draft(session, company_id=user.company_id, operator_id=user.id, dialog_id=dialog_id)
    return {
        "conversation": conversation(views, timeline(session, dialog)),
        "last_id": max((v.m.id for v in views), default=0),
        "mentionable": [
            {"handle": handle(o), "name": o.full_name} for o in visible_ops if o.id != user.id
        ],
        "others": others_on_chat(
            session,
            company_id=user.company_id,
            dialog_id=dialog.id,
            operator_id=user.id,
            fresh=fresh_for(runtime.settings.panel_presence_keepalive),
        ),
        "dialog": dialog,
        "client": client,
        "addresses": identities(session, company_id=client.company_id, client_id=client.id),
        "channel": channel,
        "messages": views,
        "pending": pending_outbound(views),
        "reply_subject": next(
            (str(f.value) for f in contributed if f.name == "subject"), _re(last_subject)
        ),
        "subject_required": any(f.required for f in contributed if f.name == "subject"),
        "address_fields": [f for f in contributed if f.kind == "addresses"],
        "draft": draft,
        "signature": (
            signature_preview(session, channel, user.id, client) if "signature" in fields else ""
        ),
        "composer_fields": fields,
        "operators": visible_ops,
        "assignee": next((o for o in visible_ops if o.id == dialog.operator_id), None),
        "groups": [g for g, _members in list_groups(session, company_id=user.company_id)],
        "templates": [{"command": t.command, "name": t.name, "text": t.text} for t in templates],
        "all_tags": tags,
        "client_tags": tags_of(
            session, company_id=user.company_id, assignee_type="client", assignee_ids=[client.id]
        ).get(client.id, []),
        "request_tags": (
            tags_of(
                session,
                company_id=user.company_id,
                assignee_type="request",
                assignee_ids=[request_row.id],
            ).get(request_row.id, [])
            if request_row
            else []
        ),
        "request_row": request_row,
    }


def _re(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        return ""
    return subject if subject.lower().startswith(("re:", "ré:")) else f"Re: {subject}"


def first_run(session: Session, user: PanelUser) -> list[tuple[str, bool, str]] | None:
    """The admin's checklist until it is done: (step, done, link); None once all are done."""
    if not user.is_admin:
        return None
    channels, _c = list_channels(session, company_id=user.company_id)
    _ops, operators = list_operators(session, company_id=user.company_id, page=Page(1, 0))
    _tpl, templates = list_templates(session, company_id=user.company_id, page=Page(1, 0))
    steps = [
        ("mailbox", bool(channels), "/settings/channels/new"),
        ("operator", operators > 1, "/settings/operators"),
        ("template", templates > 0, "/settings/templates"),
    ]
    return None if all(done for _s, done, _l in steps) else steps


@router.get("/chats")
def chats_page(request: Request, user: User) -> Response:
    index_for_search(request, user, list_filters(request.query_params))
    with runtime_of(request).db.reading() as session:
        ctx = _list_context(session, user, request)
        ctx["unread_total"] = unread_total(session, user)
        checklist = first_run(session, user)
    return render(request, "chats.html", {**ctx, "pane": None, "checklist": checklist})


@router.get("/chats/list")
def chats_list(request: Request, user: User) -> Response:
    runtime = runtime_of(request)
    filters = list_filters(request.query_params)
    if request.headers.get("hx-trigger") == "filters":  # the operator chose: remember it
        with runtime.db.transaction() as session:
            remember_filter(session, user, filters.query())
    index_for_search(request, user, filters)
    with runtime.db.reading() as session:
        ctx = _list_context(session, user, request, page=False)
    return render(request, "_dialog_items.html", {**ctx, "oob": True})


def remember_filter(session: Session, user: PanelUser, query: str) -> None:
    op = get_scoped(session, Operator, user.id, company_id=user.company_id)
    if op is not None and op.last_filter != query:
        op.last_filter = query[:300]
        session.flush()


@router.get("/chats/{dialog_id}")
def dialog_page(request: Request, dialog_id: int, user: User) -> Response:
    runtime = runtime_of(request)
    with runtime.db.transaction() as session:
        visible_dialog(session, user, dialog_id)
        mark_dialog_read(
            session, company_id=user.company_id, dialog_id=dialog_id, operator_id=user.id
        )
    with runtime.db.reading() as session:
        ctx = _list_context(session, user, request)
        ctx["unread_total"] = unread_total(session, user)
        pane = _pane_context(session, user, dialog_id, set(), runtime)
    return render(request, "chats.html", {**ctx, "pane": pane, "active": dialog_id})


@router.get("/chats/{dialog_id}/pane")
def dialog_pane(request: Request, dialog_id: int, user: User) -> Response:
    runtime = runtime_of(request)
    with runtime.db.transaction() as session:
        visible_dialog(session, user, dialog_id)
        mark_dialog_read(
            session, company_id=user.company_id, dialog_id=dialog_id, operator_id=user.id
        )
    with runtime.db.reading() as session:
        pane = _pane_context(session, user, dialog_id, set(), runtime)
    return render(request, "_dialog_pane.html", {"pane": pane})


@router.get("/chats/{dialog_id}/messages")
def dialog_messages(request: Request, dialog_id: int, user: User) -> Response:
    images = {int(x) for x in request.query_params.getlist("images") if x.isdigit()}
    runtime = runtime_of(request)
    with runtime.db.reading() as session:
        unread = visible_dialog(session, user, dialog_id).unread
    if unread:  # the operator is looking at it: what just arrived is read
        with runtime.db.transaction() as session:
            mark_dialog_read(
                session, company_id=user.company_id, dialog_id=dialog_id, operator_id=user.id
            )
    with runtime.db.reading() as session:
        pane = _pane_context(session, user, dialog_id, images, runtime)
    return render(request, "_messages.html", {"pane": pane})


@router.get("/chats/{dialog_id}/head")
def dialog_head(request: Request, dialog_id: int, user: User) -> Response:
    """The pane's header alone (assignee, state, tags): refreshed on the dialog's own events
    without touching the messages the operator is reading."""
    with runtime_of(request).db.reading() as session:
        pane = _pane_context(session, user, dialog_id, set(), runtime_of(request))
    return render(request, "_dialog_head.html", {"pane": pane})


@router.post("/chats/{dialog_id}/presence")
def presence(
    request: Request, dialog_id: int, user: User, state: Annotated[str, Form()] = "viewing"
) -> Response:
    """The panel on an open chat says what its operator does there: opened it or stopped
    typing (``viewing``), ``typing``, or ``left`` (their row goes, even from a chat they may
    no longer see); the same state again is a keep-alive. A change reaches the others on the
    chat over their live streams; the answer is who else is on it now (the panel's first
    picture of a chat it opens)."""
    runtime = runtime_of(request)
    if state == "left":
        with runtime.db.transaction() as session:
            leave_chat(
                session, company_id=user.company_id, dialog_id=dialog_id, operator_id=user.id
            )
        return Response(status_code=204)
    with runtime.db.transaction() as session:
        visible_dialog(session, user, dialog_id)
        see_chat(
            session,
            company_id=user.company_id,
            dialog_id=dialog_id,
            operator_id=user.id,
            state=state,
        )
    with runtime.db.reading() as session:
        others = others_on_chat(
            session,
            company_id=user.company_id,
            dialog_id=dialog_id,
            operator_id=user.id,
            fresh=fresh_for(runtime.settings.panel_presence_keepalive),
        )
    return render(request, "_presence.html", {"others": others})
