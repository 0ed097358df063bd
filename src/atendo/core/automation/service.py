"""Automation settings, the menu tree and the survey definitions: read and written by the
API and the panel alike (services flush, the edge commits), and the survey's reports."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.automation.models import ChannelAutomation, MenuItem, Rating, RequestRating
from atendo.core.automation.settings import (
    AutomationSettings,
    parse_settings,
    schedule_problems,
)
from atendo.core.channels.service import get_channel
from atendo.core.errors import Invalid, NotFound
from atendo.core.lengths import column_length
from atendo.core.operators.models import OperatorGroup
from atendo.core.tags.models import Tag
from atendo.kit.clock import iso, utcnow
from atendo.kit.db import get_scoped

MAX_NAME = column_length(MenuItem.name)
RESERVED_COMMANDS = ("00", "000")


def normalise(text: str) -> str:
    """What the client typed, as commands are matched: trimmed, case- and accent-free."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


# --- channel settings ------------------------------------------------------------------------


def automation_settings(
    session: Session, *, company_id: int, channel_id: int
) -> AutomationSettings:
    get_channel(session, company_id=company_id, channel_id=channel_id)
    row = session.scalar(
        select(ChannelAutomation).where(
            ChannelAutomation.company_id == company_id, ChannelAutomation.channel_id == channel_id
        )
    )
    return parse_settings(row.config if row is not None else {})


def save_automation_settings(
    session: Session, *, company_id: int, channel_id: int, data: dict[str, Any]
) -> AutomationSettings:
    """Merge ``data`` (whole sections or some of their fields) into the channel's settings."""
    current = automation_settings(session, company_id=company_id, channel_id=channel_id)
    merged = current.model_dump(mode="json")
    unknown = sorted(set(data) - set(merged))
    if unknown:
        raise Invalid(
            f"Unknown automation settings: {', '.join(unknown)}",
            {k: ["not an automation setting"] for k in unknown},
        )
    for section, value in data.items():
        if value is None:
            continue
        if not isinstance(value, dict):
            raise Invalid(f"{section} must be an object", {section: ["an object"]})
        merged[section] = {**merged[section], **value}
    settings = parse_settings(merged)
    if data.get("working_hours") is not None:
        problems = schedule_problems(settings.working_hours.week)
        if problems:
            raise Invalid(
                "Invalid working hours",
                {"working_hours.week": [p.english() for p in problems]},
            )
        settings.working_hours = settings.working_hours.normalised()
    group_id = settings.menu.default_group_id
    if group_id is not None:
        _check_group(session, company_id, group_id, "menu.default_group_id")
    row = session.scalar(
        select(ChannelAutomation).where(
            ChannelAutomation.company_id == company_id, ChannelAutomation.channel_id == channel_id
        )
    )
    if row is None:
        row = ChannelAutomation(company_id=company_id, channel_id=channel_id)
        session.add(row)
    row.config = settings.model_dump(mode="json")
    row.updated = utcnow()
    session.flush()
    return settings


def _check_group(session: Session, company_id: int, group_id: int, field: str) -> None:
    group = get_scoped(session, OperatorGroup, group_id, company_id=company_id)
    if group is None:
        raise Invalid("Group not found", {field: ["no such group"]})


def _check_tag(session: Session, company_id: int, tag_id: int, field: str) -> None:
    tag = get_scoped(session, Tag, tag_id, company_id=company_id)
    if tag is None:
        raise Invalid("Tag not found", {field: ["no such tag"]})


# --- the menu tree ---------------------------------------------------------------------------


MENU_FIELDS = (
    "parent_id",
    "command",
    "name",
    "text",
    "image",
    "assign_group_id",
    "tag_id",
    "url",
    "url_enabled",
    "close",
    "position",
)


def list_menu_items(
    session: Session,
    *,
    company_id: int,
    channel_id: int | None = None,
    level: int | None = None,
    parent_id: int | None = None,
    only_parent: bool = False,
) -> list[MenuItem]:
    stmt = select(MenuItem).where(MenuItem.company_id == company_id)
    if channel_id is not None:
        stmt = stmt.where(MenuItem.channel_id == channel_id)
    if level is not None:
        stmt = stmt.where(MenuItem.level == level)
    if only_parent:
        stmt = stmt.where(
            MenuItem.parent_id.is_(None) if parent_id is None else MenuItem.parent_id == parent_id
        )
    return list(session.scalars(stmt.order_by(MenuItem.position, MenuItem.id)))


def get_menu_item(session: Session, *, company_id: int, item_id: int) -> MenuItem:
    item = get_scoped(session, MenuItem, item_id, company_id=company_id)
    if item is None:
        raise NotFound("Menu item not found")
    return item


def create_menu_item(
    session: Session, *, company_id: int, channel_id: int, data: dict[str, Any]
) -> MenuItem:
    get_channel(session, company_id=company_id, channel_id=channel_id)
    item = MenuItem(company_id=company_id, channel_id=channel_id, text="", position=0)
    _apply_menu_fields(session, item, {"url_enabled": False, "close": False, **data}, new=True)
    session.add(item)
    session.flush()
    return item


def update_menu_item(
    session: Session, *, company_id: int, item_id: int, data: dict[str, Any]
) -> MenuItem:
    item = get_menu_item(session, company_id=company_id, item_id=item_id)
    _apply_menu_fields(session, item, data, new=False)
    session.flush()
    return item


def move_menu_item(session: Session, *, company_id: int, item_id: int, offset: int) -> MenuItem:
    """Move an item ``offset`` places among its siblings (-1 up, 1 down; clamped at the ends).

    The siblings' positions become 0, 1, 2, … in their new order (equal positions, as the API
    may leave them, are ordered by id first, as the menu shows them)."""
    item = get_menu_item(session, company_id=company_id, item_id=item_id)
    siblings = list_menu_items(
        session, company_id=company_id, channel_id=item.channel_id, parent_id=item.parent_id,
        only_parent=True,
    )  # fmt: skip
    index = next(i for i, s in enumerate(siblings) if s.id == item.id)
    target = min(max(index + offset, 0), len(siblings) - 1)
    siblings.insert(target, siblings.pop(index))
    for position, sibling in enumerate(siblings):
        sibling.position = position
    session.flush()
    return item


def delete_menu_item(session: Session, *, company_id: int, item_id: int) -> None:
    item = get_menu_item(session, company_id=company_id, item_id=item_id)
    for child in list_menu_items(
        session, company_id=company_id, channel_id=item.channel_id, parent_id=item.id,
        only_parent=True,
    ):  # fmt: skip
        delete_menu_item(session, company_id=company_id, item_id=child.id)
    session.delete(item)
    session.flush()


def _apply_menu_fields(
    session: Session, item: MenuItem, data: dict[str, Any], *, new: bool
) -> None:
    errors: dict[str, list[str]] = {}
    values = {k: v for k, v in data.items() if k in MENU_FIELDS}
    if "parent_id" in values and (new or values["parent_id"] != item.parent_id):
        parent_id = values["parent_id"]
        if parent_id is not None:
            parent = get_scoped(session, MenuItem, parent_id, company_id=item.company_id)
            if parent is None or parent.channel_id != item.channel_id:
                errors["parent_id"] = ["no such menu item on this channel"]
            elif not new and _is_below(session, parent, item.id):
                errors["parent_id"] = ["an item cannot go below itself"]
            else:
                item.level = parent.level + 1
        else:
            item.level = 1
        item.parent_id = parent_id
    for key in ("command", "name"):
        if key in values:
            values[key] = str(values[key] or "").strip()
            if not values[key]:
                errors[key] = ["required"]
    if new:
        for key in ("command", "name"):
            if not values.get(key):
                errors[key] = ["required"]
    name = values.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME:
        errors["name"] = [f"at most {MAX_NAME} characters"]
    command = values.get("command")
    if isinstance(command, str):
        if len(command) > (width := column_length(MenuItem.command)):
            errors["command"] = [f"at most {width} characters"]
        elif command in RESERVED_COMMANDS:
            errors["command"] = ["00 and 000 are reserved"]
    if values.get("assign_group_id") is not None:
        group = get_scoped(
            session, OperatorGroup, values["assign_group_id"], company_id=item.company_id
        )
        if group is None:
            errors["assign_group_id"] = ["no such group"]
    if values.get("tag_id") is not None:
        tag = get_scoped(session, Tag, values["tag_id"], company_id=item.company_id)
        if tag is None:
            errors["tag_id"] = ["no such tag"]
    image = values.get("image")
    if image:
        image = str(image).strip()
        if not image.lower().startswith(("http://", "https://")) or len(image) > column_length(
            MenuItem.image
        ):
            errors["image"] = ["an http(s) URL"]
        values["image"] = image
    url = values.get("url")
    if url:
        url = str(url).strip()
        if not url.lower().startswith(("http://", "https://")) or len(url) > column_length(
            MenuItem.url
        ):
            errors["url"] = ["an http(s) URL"]
        values["url"] = url
    if errors:
        raise Invalid("Invalid menu item", errors)
    for key, value in values.items():
        if key != "parent_id":
            setattr(item, key, value)
    if item.url_enabled and not item.url:
        raise Invalid("Invalid menu item", {"url": ["required when url_enabled"]})
    siblings = list_menu_items(
        session, company_id=item.company_id, channel_id=item.channel_id,
        parent_id=item.parent_id, only_parent=True,
    )  # fmt: skip
    wanted = normalise(item.command)
    if any(s.id != item.id and normalise(s.command) == wanted for s in siblings):
        raise Invalid("Invalid menu item", {"command": ["already used on this level"]})


def _is_below(session: Session, candidate: MenuItem, item_id: int) -> bool:
    node: MenuItem | None = candidate
    while node is not None:
        if node.id == item_id:
            return True
        node = (
            get_scoped(session, MenuItem, node.parent_id, company_id=candidate.company_id)
            if node.parent_id is not None
            else None
        )
    return False


# --- survey definitions ----------------------------------------------------------------------


def list_ratings(session: Session, *, company_id: int) -> list[Rating]:
    return list(
        session.scalars(select(Rating).where(Rating.company_id == company_id).order_by(Rating.id))
    )


def get_rating(session: Session, *, company_id: int, rating_id: int) -> Rating:
    rating = get_scoped(session, Rating, rating_id, company_id=company_id)
    if rating is None:
        raise NotFound("Rating not found")
    return rating


def save_rating(
    session: Session, *, company_id: int, data: dict[str, Any], rating_id: int | None = None
) -> Rating:
    """Create (``rating_id`` None) or change a survey definition."""
    if rating_id is None:
        rating = Rating(
            company_id=company_id,
            name="",
            question="",
            channel_ids=[],
            tag_ids=[],
            scale=[],
            min_interval_hours=12,
            hide_scores=False,
            enabled=True,
        )
    else:
        rating = get_rating(session, company_id=company_id, rating_id=rating_id)
    errors: dict[str, list[str]] = {}
    if "name" in data or rating_id is None:
        name = str(data.get("name") or "").strip()
        width = column_length(Rating.name)
        if not name or len(name) > width:
            errors["name"] = [f"required, at most {width} characters"]
        rating.name = name
    if "question" in data or rating_id is None:
        question = str(data.get("question") or "").strip()
        if not question:
            errors["question"] = ["required"]
        rating.question = question
    if data.get("channel_ids") is not None:
        ids = _int_list(data["channel_ids"], "channel_ids", errors)
        for cid in ids:
            try:
                get_channel(session, company_id=company_id, channel_id=cid)
            except NotFound:
                errors["channel_ids"] = ["no such channel"]
        rating.channel_ids = ids
    if data.get("tag_ids") is not None:
        ids = _int_list(data["tag_ids"], "tag_ids", errors)
        for tid in ids:
            tag = get_scoped(session, Tag, tid, company_id=company_id)
            if tag is None:
                errors["tag_ids"] = ["no such tag"]
        rating.tag_ids = ids
    if "scale" in data or rating_id is None:
        rating.scale = _scale(session, company_id, data.get("scale"), errors)
    if data.get("min_interval_hours") is not None:
        try:
            hours = int(data["min_interval_hours"])
        except (TypeError, ValueError):
            hours = -1
        if not 0 <= hours <= 24 * 30:
            errors["min_interval_hours"] = ["0 to 720"]
        else:
            rating.min_interval_hours = hours
    for flag in ("hide_scores", "enabled"):
        if data.get(flag) is not None:
            setattr(rating, flag, _bool(data[flag]))
    if errors:
        raise Invalid("Invalid rating", errors)
    if rating_id is None:
        session.add(rating)
    session.flush()
    return rating


def delete_rating(session: Session, *, company_id: int, rating_id: int) -> None:
    session.delete(get_rating(session, company_id=company_id, rating_id=rating_id))
    session.flush()


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


def _int_list(value: Any, field: str, errors: dict[str, list[str]]) -> list[int]:
    items = value if isinstance(value, list) else [value]
    try:
        return [int(v) for v in items if str(v).strip()]
    except (TypeError, ValueError):
        errors[field] = ["a list of ids"]
        return []


def _scale(
    session: Session, company_id: int, value: Any, errors: dict[str, list[str]]
) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        errors["scale"] = ["at least one score"]
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in value:
        if not isinstance(entry, dict):
            errors["scale"] = ["each score is an object {value, answers, thanks, tag_id}"]
            return []
        try:
            score = int(entry.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            errors["scale"] = ["each score has an integer value"]
            return []
        raw = entry.get("answers") or []
        answers = [str(a).strip() for a in (raw if isinstance(raw, list) else str(raw).split(","))]
        answers = [a for a in answers if a] or [str(score)]
        for answer in answers:
            key = normalise(answer)
            if key in seen:
                errors["scale"] = [f"the answer {answer!r} counts for two scores"]
            seen.add(key)
        tag_id = entry.get("tag_id")
        if tag_id is not None:
            tag = get_scoped(session, Tag, int(tag_id), company_id=company_id)
            if tag is None:
                errors["scale"] = ["no such tag"]
        out.append(
            {
                "value": score,
                "answers": answers,
                "thanks": str(entry.get("thanks") or ""),
                "tag_id": int(tag_id) if tag_id is not None else None,
            }
        )
    return out


def rating_out(rating: Rating) -> dict[str, Any]:
    return {
        "id": rating.id,
        "name": rating.name,
        "question": rating.question,
        "channel_ids": list(rating.channel_ids or []),
        "tag_ids": list(rating.tag_ids or []),
        "scale": list(rating.scale or []),
        "min_interval_hours": rating.min_interval_hours,
        "hide_scores": rating.hide_scores,
        "enabled": rating.enabled,
    }


# --- reports ---------------------------------------------------------------------------------


def rated_requests(
    session: Session, *, company_id: int, start: datetime, end: datetime
) -> list[RequestRating]:
    stmt = (
        select(RequestRating)
        .where(
            RequestRating.company_id == company_id,
            RequestRating.created >= start,
            RequestRating.created < end,
        )
        .order_by(RequestRating.created, RequestRating.id)
    )
    return list(session.scalars(stmt))


def average_by_operator(
    session: Session, *, company_id: int, start: datetime, end: datetime
) -> list[tuple[int | None, float, int]]:
    """(operator_id, average score, count), best first."""
    stmt = (
        select(
            RequestRating.operator_id,
            func.avg(RequestRating.score),
            func.count(RequestRating.id),
        )
        .where(
            RequestRating.company_id == company_id,
            RequestRating.created >= start,
            RequestRating.created < end,
        )
        .group_by(RequestRating.operator_id)
    )
    rows = [(op, float(avg or 0), int(n)) for op, avg, n in session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r[1], r[0] or 0))


def average_by_day(
    session: Session, *, company_id: int, start: datetime, end: datetime
) -> list[tuple[str, float, int]]:
    """(YYYY-MM-DD in UTC, average, count), by day; computed here so both databases agree."""
    days: dict[str, list[int]] = {}
    for row in rated_requests(session, company_id=company_id, start=start, end=end):
        days.setdefault(row.created.strftime("%Y-%m-%d"), []).append(row.score)
    return [(d, sum(v) / len(v), len(v)) for d, v in sorted(days.items())]


def rating_report(
    session: Session, *, company_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """``GET /v1/statistics?report=rating``: each rated request of the period."""
    scales = {
        r.id: max((int(e["value"]) for e in r.scale or []), default=0)
        for r in list_ratings(session, company_id=company_id)
    }
    return [
        {
            "valuation_request_id": row.request_id,
            "score_value": row.score,
            "rating_scale_score": scales.get(row.rating_id or 0, row.score),
            "rating_id": row.rating_id,
            "operator_id": row.operator_id,
            "client_id": row.client_id,
            "dialog_id": row.dialog_id,
            "channel_id": row.channel_id,
            "answer": row.answer,
            "created": iso(row.created),
        }
        for row in rated_requests(session, company_id=company_id, start=start, end=end)
    ]
