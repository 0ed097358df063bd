"""Automation settings in the panel: a channel's working hours, greetings, auto-close and
menu settings (tab *Automação*); its self-service menu tree (tab *Menu de AutoAtendimento*,
``automation_menu``) and the quality survey (*Controle de Qualidade*, ``automation_ratings``)
are served by this module's router too. Admins only.

The pages call the same core functions as the API; a refusal is told as sentences in the
operator's language (one per bad span or date, the other fields named), the form as sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from atendo.core.automation.service import automation_settings, save_automation_settings
from atendo.core.automation.settings import (
    Span,
    WorkingHours,
    parse_settings,
    schedule_problems,
)
from atendo.core.channels.service import get_channel
from atendo.core.errors import DomainError
from atendo.core.operators.service import list_groups, time_zones
from atendo.kit.clock import utcnow
from atendo.panel.auth import PanelUser, admin_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render
from atendo.panel.routes import automation_menu, automation_ratings
from atendo.panel.routes.automation_common import (
    DAYS,
    day_names,
    redirect,
    refusals,
    text,
    texts,
)

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]


@dataclass
class DayRow:
    """One day of the schedule as the form shows it: open or not, and its spans."""

    day: int
    name: str
    open: bool
    spans: list[tuple[str, str]] = field(default_factory=list)


def _time_in(value: str) -> str:
    """A time input's value for a stored time: ``24:00`` (end of day) shows as ``00:00``."""
    return "00:00" if value == "24:00" else value


def _rows_from_settings(user: PanelUser, hours: WorkingHours) -> list[DayRow]:
    names = day_names(user)
    rows = []
    for d in DAYS:
        spans = [(_time_in(s.start), _time_in(s.end)) for s in hours.week if s.day == d]
        rows.append(DayRow(d, names[d], bool(spans), spans or [("09:00", "18:00")]))
    return rows


def _rows_from_form(user: PanelUser, form: Any) -> list[DayRow]:
    names = day_names(user)
    rows = []
    for d in DAYS:
        pairs = list(zip(texts(form, f"start_{d}"), texts(form, f"end_{d}"), strict=False))
        spans = [(a, b) for a, b in pairs if a or b]
        rows.append(DayRow(d, names[d], form.get(f"open_{d}") == "on", spans))
    return rows


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _week(user: PanelUser, rows: list[DayRow]) -> tuple[list[dict[str, Any]], list[str]]:
    """The open days' spans as the settings take them, and a sentence for each problem.

    A time input cannot hold 24:00: an end of 00:00 is midnight at the end of the day."""
    _ = translations(user.language).gettext
    week: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []  # (day, sentence): told day by day
    for row in rows:
        if not row.open:
            continue
        if not row.spans:
            problems.append((row.day, _("%(day)s is open but has no hours.") % {"day": row.name}))
        for start, end in row.spans:
            bad = [v for v in (start, end) if not _HHMM.match(v)]
            if bad:
                sentence = _("%(day)s: “%(value)s” is not a time (HH:MM).")
                problems.append((row.day, sentence % {"day": row.name, "value": bad[0]}))
                continue
            week.append({"day": row.day, "start": start, "end": "24:00" if end == "00:00" else end})
    names = {r.day: r.name for r in rows}
    for p in schedule_problems([Span.model_validate(s) for s in week]):
        values = {"day": names[p.day], "span": f"{p.start}–{_time_in(p.end)}"}
        if p.kind == "order":
            wrong = _("%(day)s: %(span)s does not end after it starts.") % values
            hint = _("For hours past midnight, close at 00:00 and open the next day at 00:00.")
            problems.append((p.day, f"{wrong} {hint}"))
        else:
            other = p.other or ("", "")
            values["other"] = f"{other[0]}–{_time_in(other[1])}"
            problems.append((p.day, _("%(day)s: %(other)s and %(span)s overlap.") % values))
    return week, [sentence for _day, sentence in sorted(problems, key=lambda p: p[0])]


_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _holidays(user: PanelUser, raw: str) -> tuple[list[str], list[str]]:
    """Dates one a line (or separated by spaces or commas), ``YYYY-MM-DD`` or ``DD/MM/YYYY``."""
    _ = translations(user.language).gettext
    days: list[str] = []
    problems: list[str] = []
    for value in raw.replace(",", " ").split():
        dmy = _DMY.match(value)
        iso_text = f"{dmy[3]}-{int(dmy[2]):02d}-{int(dmy[1]):02d}" if dmy else value
        try:
            days.append(date.fromisoformat(iso_text).isoformat())
        except ValueError:
            problems.append(
                _("Holidays: “%(value)s” is not a date (YYYY-MM-DD or DD/MM/YYYY).")
                % {"value": value}
            )
    return days, problems


def _setting_sentences(user: PanelUser, exc: DomainError) -> tuple[list[str], DomainError | None]:
    """A sentence for each refused setting this page knows how to tell, and the rest."""
    _ = translations(user.language).gettext
    known = {
        "working_hours.timezone": _("Time zone: choose one from the list."),
        "greetings.min_interval_hours": _(
            "At most one per client every (hours): a whole number from 0 to 720."
        ),
        "menu.end_word": _("End word: at most 40 characters."),
        "menu.timeout_minutes": _("Timeout (minutes): a whole number from 1 to 1440."),
        "menu.default_group_id": _("The chosen group no longer exists."),
        "auto_close.after_hours": _(
            "Close after (hours without a client message): a number above 0, at most 2160."
        ),
    }
    told: list[str] = []
    rest: dict[str, list[str]] = {}
    for key, problems in (exc.errors or {}).items():
        sentence = known.get(key)
        if sentence is None:
            rest[key] = problems
        elif sentence not in told:
            told.append(sentence)
    return told, (DomainError(exc.message, rest) if rest or not told else None)


def _now_line(user: PanelUser, hours: WorkingHours) -> str:
    """Where the channel stands now, as the greetings will see it."""
    _ = translations(user.language).gettext
    now = utcnow()
    local = now.astimezone(ZoneInfo(hours.timezone))
    values = {"zone": hours.timezone, "day": day_names(user)[local.isoweekday()],
              "time": local.strftime("%H:%M")}  # fmt: skip
    if hours.in_hours(now):
        return _("Now in %(zone)s: %(day)s %(time)s, in working hours.") % values
    return _("Now in %(zone)s: %(day)s %(time)s, out of hours.") % values


def _automation_page(
    request: Request,
    user: PanelUser,
    channel_id: int,
    *,
    view: Any = None,
    rows: list[DayRow] | None = None,
    holidays: str | None = None,
    errors: list[str] | None = None,
    saved: bool = False,
) -> Response:
    """The tab; ``view``/``rows``/``holidays`` carry a form sent back (refused or being edited)."""
    with runtime_of(request).db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
        settings = automation_settings(session, company_id=user.company_id, channel_id=channel_id)
        groups = [g for g, _members in list_groups(session, company_id=user.company_id)]
    hours = settings.working_hours
    return render(
        request,
        "settings/automation.html",
        {
            "channel": channel,
            "settings": view if view is not None else settings,
            "rows": rows if rows is not None else _rows_from_settings(user, hours),
            "holidays": holidays
            if holidays is not None
            else "\n".join(h.isoformat() for h in hours.holidays),
            "now_line": _now_line(user, hours),
            "groups": groups,
            "zones": time_zones(),
            "section": "channels",
            "tab": "automation",
            "errors": errors or [],
            "saved": saved,
        },
        status_code=422 if errors else 200,
    )


@router.get("/settings/channels/{channel_id}/automation")
def automation_page(
    request: Request, channel_id: int, user: Admin, saved: bool = False
) -> Response:
    return _automation_page(request, user, channel_id, saved=saved)


def _namespace(data: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        **{k: _namespace(v) if isinstance(v, dict) else v for k, v in data.items()}
    )


def _span_action(rows: list[DayRow], action: str) -> None:
    """``add:<day>`` or ``remove:<day>:<index>``: the form's buttons without JavaScript."""
    parts = action.split(":")
    row = next((r for r in rows if parts[1:] and str(r.day) == parts[1]), None)
    if row is None:
        return
    if parts[0] == "add":
        row.open = True
        row.spans.append(("", ""))
    elif parts[0] == "remove" and len(parts) == 3 and parts[2].isdigit():
        index = int(parts[2])
        if index < len(row.spans):
            del row.spans[index]
        row.open = row.open and bool(row.spans)


@router.post("/settings/channels/{channel_id}/automation")
async def automation_save(request: Request, channel_id: int, user: Admin) -> Response:
    form = await request.form()
    rows = _rows_from_form(user, form)
    week, problems = _week(user, rows)
    holidays, holiday_problems = _holidays(user, text(form, "holidays"))
    group = text(form, "default_group_id")
    after = text(form, "after_hours").replace(",", ".")
    data: dict[str, Any] = {
        "working_hours": {"timezone": text(form, "timezone") or "America/Sao_Paulo",
                          "week": week, "holidays": holidays},
        "greetings": {
            key: str(form.get(key) or "").strip()
            for key in ("new_in_hours", "new_out_of_hours", "returning_in_hours",
                        "returning_out_of_hours")
        },
        "menu": {
            "enabled": form.get("menu_enabled") == "on",
            "invitation": str(form.get("invitation") or "").strip(),
            "end_word": text(form, "end_word"),
            "unknown_text": str(form.get("unknown_text") or "").strip(),
            "timeout_minutes": text(form, "timeout_minutes") or "30",
            "default_group_id": int(group) if group.isdigit() else None,
        },
        "auto_close": {"after_hours": after or None,
                       "message": str(form.get("close_message") or "").strip()},
    }  # fmt: skip
    data["greetings"]["min_interval_hours"] = text(form, "min_interval_hours") or "12"

    def again(errors: list[str] | None = None) -> Response:
        """The form as sent, with ``errors`` or none (a span added or removed)."""
        return _automation_page(
            request, user, channel_id, view=_namespace(data), rows=rows,
            holidays=str(form.get("holidays") or ""), errors=errors,
        )  # fmt: skip

    action = text(form, "span_action")
    if action:  # add or remove a span: the form again, nothing saved
        _span_action(rows, action)
        return again()
    problems += holiday_problems
    try:  # every field's problem in one answer
        parse_settings(data)
    except DomainError as exc:
        told, rest = _setting_sentences(user, exc)
        return again(refusals(user, problems + told, rest))
    if problems:
        return again(refusals(user, problems, None))
    try:
        with write(request, user) as session:
            save_automation_settings(
                session, company_id=user.company_id, channel_id=channel_id, data=data
            )
    except DomainError as exc:
        told, rest = _setting_sentences(user, exc)
        return again(refusals(user, told, rest))
    return redirect(f"/settings/channels/{channel_id}/automation?saved=1")


# The menu editor and the quality survey live in their own modules, served by this router.
router.include_router(automation_menu.router)
router.include_router(automation_ratings.router)
