"""Automation settings in the panel: a channel's working hours, greetings, auto-close and
menu settings (tab *Automação*), its self-service menu tree (tab *Menu de AutoAtendimento*),
and the quality survey (*Controle de Qualidade*: the surveys and their report). Admins only.

The pages call the same core functions as the API; a refusal is shown as a sentence naming
the fields, in the operator's language.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from atendo.core.automation.service import (
    automation_settings,
    average_by_day,
    average_by_operator,
    create_menu_item,
    delete_menu_item,
    delete_rating,
    list_menu_items,
    list_ratings,
    rated_requests,
    save_automation_settings,
    save_rating,
)
from atendo.core.automation.settings import AutomationSettings
from atendo.core.channels.service import get_channel, list_channels
from atendo.core.errors import DomainError
from atendo.core.operators.service import list_groups, list_operators, time_zones
from atendo.core.tags.service import list_tags
from atendo.kit.clock import utcnow
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser, admin_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]

DAYS = (1, 2, 3, 4, 5, 6, 7)


def _labels(user: PanelUser) -> dict[str, str]:
    """The translated name of every field a refusal may name."""
    _ = translations(user.language).gettext
    return {
        "working_hours": _("Working hours"),
        "timezone": _("Time zone"),
        "week": _("Weekly schedule"),
        "holidays": _("Holidays"),
        "greetings": _("Greetings"),
        "min_interval_hours": _("At most one per client every (hours)"),
        "menu": _("Self-service menu"),
        "end_word": _("End word"),
        "timeout_minutes": _("Timeout (minutes)"),
        "default_group_id": _("Default group"),
        "auto_close": _("Auto-close"),
        "after_hours": _("Close after (hours without a client message)"),
        "command": _("Command"),
        "name": _("Name"),
        "parent_id": _("Under"),
        "url": _("URL"),
        "image": _("Reply file (its URL)"),
        "assign_group_id": _("Assign to group"),
        "tag_id": _("Tag"),
        "question": _("Question"),
        "scale": _("Scale"),
        "channel_ids": _("Channels"),
        "tag_ids": _("Trigger tags"),
    }


def _refusal(user: PanelUser, exc: DomainError) -> str:
    _ = translations(user.language).gettext
    labels = _labels(user)
    names: list[str] = []
    for key in exc.errors or {}:  # the most precise part named: "greetings.x" → "x"
        label = next((labels[p] for p in reversed(key.split(".")) if p in labels), None)
        if label and label not in names:
            names.append(label)
    if not names:
        return _("The change was not saved: a value is not valid.")
    return _("The change was not saved. Check: %(fields)s.") % {"fields": ", ".join(names)}


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


# --- the channel's automation tab ------------------------------------------------------------


def _automation_page(
    request: Request,
    user: PanelUser,
    channel_id: int,
    *,
    settings: AutomationSettings | None = None,
    error: str = "",
    saved: bool = False,
) -> Response:
    with runtime_of(request).db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
        if settings is None:
            settings = automation_settings(
                session, company_id=user.company_id, channel_id=channel_id
            )
        groups = [g for g, _members in list_groups(session, company_id=user.company_id)]
    days = {d: next((s for s in settings.working_hours.week if s.day == d), None) for d in DAYS}
    return render(
        request,
        "settings/automation.html",
        {
            "channel": channel,
            "settings": settings,
            "days": days,
            "groups": groups,
            "zones": time_zones(),
            "section": "channels",
            "tab": "automation",
            "error": error,
            "saved": saved,
        },
        status_code=422 if error else 200,
    )


@router.get("/settings/channels/{channel_id}/automation")
def automation_page(
    request: Request, channel_id: int, user: Admin, saved: bool = False
) -> Response:
    return _automation_page(request, user, channel_id, saved=saved)


def _text(form: Any, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


@router.post("/settings/channels/{channel_id}/automation")
async def automation_save(request: Request, channel_id: int, user: Admin) -> Response:
    form = await request.form()
    week = [
        {"day": d, "start": _text(form, f"start_{d}") or "09:00",
         "end": _text(form, f"end_{d}") or "18:00"}
        for d in DAYS
        if form.get(f"open_{d}") == "on"
    ]  # fmt: skip
    holidays = [h.strip() for h in _text(form, "holidays").split() if h.strip()]
    group = _text(form, "default_group_id")
    after = _text(form, "after_hours").replace(",", ".")
    data: dict[str, Any] = {
        "working_hours": {"timezone": _text(form, "timezone") or "America/Sao_Paulo",
                          "week": week, "holidays": holidays},
        "greetings": {
            key: str(form.get(key) or "").strip()
            for key in ("new_in_hours", "new_out_of_hours", "returning_in_hours",
                        "returning_out_of_hours")
        },
        "menu": {
            "enabled": form.get("menu_enabled") == "on",
            "invitation": str(form.get("invitation") or "").strip(),
            "end_word": _text(form, "end_word"),
            "unknown_text": str(form.get("unknown_text") or "").strip(),
            "timeout_minutes": _text(form, "timeout_minutes") or "30",
            "default_group_id": int(group) if group.isdigit() else None,
        },
        "auto_close": {"after_hours": after or None,
                       "message": str(form.get("close_message") or "").strip()},
    }  # fmt: skip
    data["greetings"]["min_interval_hours"] = _text(form, "min_interval_hours") or "12"
    try:
        with write(request, user) as session:
            save_automation_settings(
                session, company_id=user.company_id, channel_id=channel_id, data=data
            )
    except DomainError as exc:
        return _automation_page(request, user, channel_id, error=_refusal(user, exc))
    return _redirect(f"/settings/channels/{channel_id}/automation?saved=1")


# --- the channel's menu tab ------------------------------------------------------------------


def _tree(items: list[Any]) -> list[tuple[int, Any]]:
    """(depth, item) in reading order: each item followed by the items below it."""
    children: dict[int | None, list[Any]] = {}
    for item in items:
        children.setdefault(item.parent_id, []).append(item)
    out: list[tuple[int, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for item in children.get(parent, []):
            out.append((depth, item))
            walk(item.id, depth + 1)

    walk(None, 0)
    return out


def _menu_page(request: Request, user: PanelUser, channel_id: int, error: str = "",
               values: dict[str, Any] | None = None) -> Response:  # fmt: skip
    with runtime_of(request).db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
        items = list_menu_items(session, company_id=user.company_id, channel_id=channel_id)
        groups = [g for g, _members in list_groups(session, company_id=user.company_id)]
        tags, _n = list_tags(session, company_id=user.company_id, page=Page(200, 0))
        menu = automation_settings(session, company_id=user.company_id, channel_id=channel_id).menu
    return render(
        request,
        "settings/menu.html",
        {
            "channel": channel,
            "tree": _tree(items),
            "groups": {g.id: g.name for g in groups},
            "tags": {t.id: t.label for t in tags},
            "menu": menu,
            "values": values or {},
            "section": "channels",
            "tab": "menu",
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/settings/channels/{channel_id}/menu")
def menu_page(request: Request, channel_id: int, user: Admin) -> Response:
    return _menu_page(request, user, channel_id)


@router.post("/settings/channels/{channel_id}/menu")
async def menu_add(request: Request, channel_id: int, user: Admin) -> Response:
    form = await request.form()

    def number(key: str) -> int | None:
        value = _text(form, key)
        return int(value) if value.isdigit() else None

    data: dict[str, Any] = {
        "parent_id": number("parent_id"),
        "command": _text(form, "command"),
        "name": _text(form, "name"),
        "text": str(form.get("text") or "").strip(),
        "assign_group_id": number("assign_group_id"),
        "tag_id": number("tag_id"),
        "url": _text(form, "url") or None,
        "image": _text(form, "image") or None,
        "url_enabled": form.get("url_enabled") == "on",
        "close": form.get("close") == "on",
        "position": number("position") or 0,
    }
    try:
        with write(request, user) as session:
            create_menu_item(session, company_id=user.company_id, channel_id=channel_id, data=data)
    except DomainError as exc:
        return _menu_page(request, user, channel_id, _refusal(user, exc), values=data)
    return _redirect(f"/settings/channels/{channel_id}/menu")


@router.post("/settings/channels/{channel_id}/menu/{item_id}/delete")
def menu_delete(request: Request, channel_id: int, item_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        delete_menu_item(session, company_id=user.company_id, item_id=item_id)
    return _redirect(f"/settings/channels/{channel_id}/menu")


# --- Controle de Qualidade -------------------------------------------------------------------


def _ratings_page(request: Request, user: PanelUser, error: str = "",
                  values: dict[str, Any] | None = None) -> Response:  # fmt: skip
    with runtime_of(request).db.reading() as session:
        ratings = list_ratings(session, company_id=user.company_id)
        channels, _n = list_channels(session, company_id=user.company_id)
        tags, _m = list_tags(session, company_id=user.company_id, page=Page(200, 0))
    return render(
        request,
        "settings/ratings.html",
        {
            "ratings": ratings,
            "channels": {c.id: c.name for c in channels},
            "tags": {t.id: t.label for t in tags},
            "values": values or {},
            "section": "ratings",
            "tab": "surveys",
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/settings/ratings")
def ratings_page(request: Request, user: Admin) -> Response:
    return _ratings_page(request, user)


def parse_scale(text: str) -> list[dict[str, Any]]:
    """One score a line: ``value | answers, comma separated | thank-you text``."""
    scale: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        answers = [a.strip() for a in (parts[1] if len(parts) > 1 else "").split(",")]
        scale.append(
            {
                "value": parts[0],
                "answers": [a for a in answers if a],
                "thanks": parts[2] if len(parts) > 2 else "",
            }
        )
    return scale


@router.post("/settings/ratings")
async def rating_add(request: Request, user: Admin) -> Response:
    form = await request.form()
    data: dict[str, Any] = {
        "name": _text(form, "name"),
        "question": str(form.get("question") or "").strip(),
        "channel_ids": [
            int(v) for v in form.getlist("channel_ids") if isinstance(v, str) and v.isdigit()
        ],
        "tag_ids": [int(v) for v in form.getlist("tag_ids") if isinstance(v, str) and v.isdigit()],
        "scale": parse_scale(str(form.get("scale") or "")),
        "min_interval_hours": _text(form, "min_interval_hours") or "12",
        "hide_scores": form.get("hide_scores") == "on",
    }
    try:
        with write(request, user) as session:
            save_rating(session, company_id=user.company_id, data=data)
    except DomainError as exc:
        values = {**data, "scale": str(form.get("scale") or "")}
        return _ratings_page(request, user, _refusal(user, exc), values=values)
    return _redirect("/settings/ratings")


@router.post("/settings/ratings/{rating_id}/delete")
def rating_delete(request: Request, rating_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        delete_rating(session, company_id=user.company_id, rating_id=rating_id)
    return _redirect("/settings/ratings")


@router.get("/settings/ratings/report")
def ratings_report(request: Request, user: Admin, days: int = 30) -> Response:
    days = min(max(days, 1), 366)
    end = utcnow() + timedelta(minutes=1)
    start = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=days - 1)
    with runtime_of(request).db.reading() as session:
        by_operator = average_by_operator(session, company_id=user.company_id, start=start, end=end)
        by_day = average_by_day(session, company_id=user.company_id, start=start, end=end)
        rated = rated_requests(session, company_id=user.company_id, start=start, end=end)
        operators, _n = list_operators(session, company_id=user.company_id, page=Page(200, 0))
    return render(
        request,
        "settings/ratings_report.html",
        {
            "by_operator": by_operator,
            "by_day": by_day,
            "rated": list(reversed(rated))[:200],
            "names": {o.id: o.full_name for o in operators},
            "days": days,
            "section": "ratings",
            "tab": "report",
        },
    )
