"""Tags and tag groups, assigned to clients and requests."""

from __future__ import annotations

import re
from functools import cache

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.orm import Session

from atendo.core.clients.models import Client
from atendo.core.companies.service import actor_of, record_audit
from atendo.core.dialogs.models import Request
from atendo.core.enums import EventType
from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.events.service import emit
from atendo.core.tags.models import Tag, TagAssignment, TagGroup
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page, count_total

ASSIGNEE_TYPES = ("client", "request")


def list_tags(session: Session, *, company_id: int, page: Page) -> tuple[list[Tag], int]:
    stmt = select(Tag).where(Tag.company_id == company_id)
    rows = list(
        session.scalars(stmt.order_by(Tag.order_show, Tag.id).limit(page.limit).offset(page.offset))
    )
    # a page that is not full tells the total (the panel reads every tag on each render)
    return rows, count_total(session, stmt, page, capped=False, shown=len(rows))


def get_tag(session: Session, *, company_id: int, tag_id: int) -> Tag:
    tag = get_scoped(session, Tag, tag_id, company_id=company_id)
    if tag is None:
        raise NotFound()
    return tag


def group_names(session: Session, *, company_id: int) -> dict[int, str]:
    rows = session.execute(
        select(TagGroup.id, TagGroup.name).where(TagGroup.company_id == company_id)
    )
    return {gid: name for gid, name in rows}


def create_tag_group(
    session: Session, *, company_id: int, name: str, order_show: int = 0, display: bool = True
) -> TagGroup:
    if not name.strip():
        raise Invalid(
            "tag_group_name is required",
            {"tag_group_name": ["required"]},
            code="tag.group_required",
        )
    group = TagGroup(
        company_id=company_id, name=name.strip(), order_show=order_show, display=display
    )
    session.add(group)
    session.flush()
    return group


# A tag's colours end up in every operator's page (a style attribute): only a plain hex colour,
# never other CSS (a full-screen layer, a url() fetched by every browser).
COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
DEFAULT_BG = "#e0e7ff"
DEFAULT_TEXT = "#1e1b4b"


def is_color(value: str) -> bool:
    return COLOR.fullmatch(value) is not None


def shown_color(value: str | None, default: str) -> str:
    """The colour to render: rows written before the check may hold anything."""
    return value if value and is_color(value) else default


def check_colors(*, bg_color: str | None, text_color: str | None) -> None:
    """Refuse anything but a plain hex colour (None or "": keep what is there)."""
    for field, value in (("tag_bg_color", bg_color), ("tag_text_color", text_color)):
        if value and not is_color(value):
            raise Invalid(
                f"{field} must be a colour like #1e88e5",
                {field: ["#rgb or #rrggbb"]},
                code="tag.invalid_color",
                params={"value": value[:40]},
            )


def _unique_label(
    session: Session, company_id: int, label: str, group_id: int | None, tag_id: int | None
) -> None:
    taken = session.scalar(
        select(Tag.id).where(
            Tag.company_id == company_id,
            func.lower(Tag.label) == label.strip().lower(),
            Tag.group_id.is_(None) if group_id is None else Tag.group_id == group_id,
            Tag.id != (tag_id or 0),
        )
    )
    if taken is not None:
        raise Conflict(
            "A tag with this label already exists in the group",
            {"tag_label": ["taken"]},
            code="tag.label_taken",
            params={"label": label.strip()},
        )


def update_tag(
    session: Session,
    *,
    company_id: int,
    tag_id: int,
    label: str,
    bg_color: str | None = None,
    text_color: str | None = None,
) -> Tag:
    tag = get_tag(session, company_id=company_id, tag_id=tag_id)
    if not label.strip():
        raise Invalid(
            "tag_label is required", {"tag_label": ["required"]}, code="tag.label_required"
        )
    check_colors(bg_color=bg_color, text_color=text_color)
    _unique_label(session, company_id, label, tag.group_id, tag.id)
    tag.label = label.strip()
    if bg_color:
        tag.bg_color = bg_color
    if text_color:
        tag.text_color = text_color
    session.flush()
    return tag


def tag_uses(session: Session, *, company_id: int, tag_id: int) -> int:
    """How many clients and requests carry the tag (said before deleting it)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(TagAssignment)
            .where(TagAssignment.company_id == company_id, TagAssignment.tag_id == tag_id)
        )
        or 0
    )


def delete_tag(session: Session, *, company_id: int, tag_id: int) -> int:
    """Delete the tag; it comes off every client and request. Returns how many it was on."""
    tag = get_tag(session, company_id=company_id, tag_id=tag_id)
    uses = tag_uses(session, company_id=company_id, tag_id=tag.id)
    session.execute(
        delete(TagAssignment).where(
            TagAssignment.company_id == company_id, TagAssignment.tag_id == tag.id
        )
    )
    session.delete(tag)
    session.flush()
    return uses


def create_tag(
    session: Session,
    *,
    company_id: int,
    label: str,
    group_id: int | None = None,
    description: str = "",
    bg_color: str | None = None,
    text_color: str | None = None,
    order_show: int = 0,
) -> Tag:
    if not label.strip():
        raise Invalid(
            "tag_label is required", {"tag_label": ["required"]}, code="tag.label_required"
        )
    check_colors(bg_color=bg_color, text_color=text_color)
    if group_id is not None:
        group = get_scoped(session, TagGroup, group_id, company_id=company_id)
        if group is None:
            raise NotFound("Tag group not found")
    _unique_label(session, company_id, label, group_id, None)
    tag = Tag(
        company_id=company_id,
        label=label.strip(),
        group_id=group_id,
        description=description,
        order_show=order_show,
    )
    if bg_color:
        tag.bg_color = bg_color
    if text_color:
        tag.text_color = text_color
    session.add(tag)
    session.flush()
    emit(
        session,
        company_id=company_id,
        type=EventType.NEW_TAG,
        payload={"tag_id": tag.id, "label": tag.label, "group_id": group_id},
    )
    return tag


def _check_assignee(
    session: Session, company_id: int, assignee_type: str, assignee_id: int
) -> int | None:
    """Refuses a wrong assignee; returns the request's dialog (None for a client)."""
    if assignee_type not in ASSIGNEE_TYPES:
        raise Invalid(
            "assignee_type must be client or request",
            {"assignee_type": ["invalid"]},
            code="tag.invalid_assignee",
        )
    row: Client | Request | None = (
        get_scoped(session, Client, assignee_id, company_id=company_id)
        if assignee_type == "client"
        else get_scoped(session, Request, assignee_id, company_id=company_id)
    )
    if row is None:
        raise NotFound(f"{assignee_type.capitalize()} not found")
    return row.dialog_id if isinstance(row, Request) else None


def _tag_timeline(
    session: Session,
    *,
    company_id: int,
    kind: str,
    tag_id: int,
    assignee_type: str,
    dialog_id: int | None,
    by_operator_id: int | None,
) -> None:
    if dialog_id is None:
        return
    tag = get_scoped(session, Tag, tag_id, company_id=company_id)
    record_audit(
        session,
        company_id=company_id,
        actor=actor_of(by_operator_id),
        action=f"{kind} dialog {dialog_id}",
        kind=kind,
        operator_id=by_operator_id,
        dialog_id=dialog_id,
        details={"tag_id": tag_id, "label": tag.label if tag else "", "on": assignee_type},
    )


def assign_tags(
    session: Session,
    *,
    company_id: int,
    tag_ids: list[int],
    assignee_type: str,
    assignee_id: int,
    by_operator_id: int | None = None,
    dialog_id: int | None = None,
) -> int:
    """Tag a client or a request; the timeline of ``dialog_id`` (a request's: its own dialog)
    says who did it."""
    dialog_id = _check_assignee(session, company_id, assignee_type, assignee_id) or dialog_id
    added = 0
    for tag_id in dict.fromkeys(tag_ids):
        get_tag(session, company_id=company_id, tag_id=tag_id)
        exists = session.scalar(
            select(TagAssignment.id).where(
                TagAssignment.company_id == company_id,
                TagAssignment.tag_id == tag_id,
                TagAssignment.assignee_type == assignee_type,
                TagAssignment.assignee_id == assignee_id,
            )
        )
        if exists is not None:
            continue
        session.add(
            TagAssignment(
                company_id=company_id,
                tag_id=tag_id,
                assignee_type=assignee_type,
                assignee_id=assignee_id,
            )
        )
        added += 1
        event = (
            EventType.ADD_TAG_TO_CLIENT
            if assignee_type == "client"
            else EventType.ADD_TAG_TO_REQUEST
        )
        emit(
            session,
            company_id=company_id,
            type=event,
            payload={"tag_id": tag_id, f"{assignee_type}_id": assignee_id},
            dialog_id=dialog_id,
        )
        _tag_timeline(
            session,
            company_id=company_id,
            kind="tagged",
            tag_id=tag_id,
            assignee_type=assignee_type,
            dialog_id=dialog_id,
            by_operator_id=by_operator_id,
        )
    session.flush()
    return added


def remove_tag(
    session: Session,
    *,
    company_id: int,
    tag_id: int,
    assignee_type: str,
    assignee_id: int,
    by_operator_id: int | None = None,
    dialog_id: int | None = None,
) -> bool:
    dialog_id = _check_assignee(session, company_id, assignee_type, assignee_id) or dialog_id
    get_tag(session, company_id=company_id, tag_id=tag_id)
    row = session.scalar(
        select(TagAssignment).where(
            TagAssignment.company_id == company_id,
            TagAssignment.tag_id == tag_id,
            TagAssignment.assignee_type == assignee_type,
            TagAssignment.assignee_id == assignee_id,
        )
    )
    if row is None:
        return False
    session.delete(row)
    event = (
        EventType.DELETE_TAG_FROM_CLIENT
        if assignee_type == "client"
        else EventType.DELETE_TAG_FROM_REQUEST
    )
    emit(
        session,
        company_id=company_id,
        type=event,
        payload={"tag_id": tag_id, f"{assignee_type}_id": assignee_id},
        dialog_id=dialog_id,
    )
    _tag_timeline(
        session,
        company_id=company_id,
        kind="untagged",
        tag_id=tag_id,
        assignee_type=assignee_type,
        dialog_id=dialog_id,
        by_operator_id=by_operator_id,
    )
    session.flush()
    return True


@cache
def _tags_of_assignees() -> Select[int, Tag]:
    """(assignee id, tag) of these assignees of a type in a company, in the tags' order (built
    once: see :func:`atendo.kit.db.records`)."""
    return (
        select(TagAssignment.assignee_id, Tag)
        .join(Tag, (Tag.company_id == TagAssignment.company_id) & (Tag.id == TagAssignment.tag_id))
        .where(
            TagAssignment.company_id == bindparam("company_id"),
            TagAssignment.assignee_type == bindparam("assignee_type"),
            TagAssignment.assignee_id.in_(bindparam("ids", expanding=True)),
        )
        .order_by(Tag.order_show, Tag.id)
    )


def tags_of(
    session: Session, *, company_id: int, assignee_type: str, assignee_ids: list[int]
) -> dict[int, list[Tag]]:
    if not assignee_ids:
        return {}
    rows = session.execute(
        _tags_of_assignees(),
        {"company_id": company_id, "assignee_type": assignee_type, "ids": list(assignee_ids)},
    )
    out: dict[int, list[Tag]] = {}
    for assignee_id, tag in rows:
        out.setdefault(assignee_id, []).append(tag)
    return out
