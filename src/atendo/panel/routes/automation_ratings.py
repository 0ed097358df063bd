"""The quality survey in the panel (*Controle de Qualidade*): the surveys, each added or
edited (name, question, channels, trigger tags, the scale score by score, the options) or
deleted, and their report. Admins only.

The scale is edited as rows (value, the answers that count as it, the thank-you text, a tag);
rows are added and removed in the page, or without JavaScript by the same buttons (the form
comes back with the row added or removed, nothing saved). A refusal is told as sentences in
the operator's language; the form comes back as sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from atendo.core.automation.service import (
    average_by_day,
    average_by_operator,
    delete_rating,
    get_rating,
    list_ratings,
    normalise,
    rated_requests,
    save_rating,
)
from atendo.core.channels.service import list_channels
from atendo.core.errors import DomainError
from atendo.core.operators.service import list_operators
from atendo.core.tags.service import list_tags
from atendo.kit.clock import utcnow
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser, admin_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render
from atendo.panel.routes.automation_common import redirect, refusals, text, texts

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]

MAX_SURVEY_NAME = 100
_INTEGER = re.compile(r"^-?\d{1,6}$")


def _default_rows() -> list[dict[str, Any]]:
    """A new survey's scale: 5 down to 1, each answered by its number."""
    return [{"value": str(v), "answers": "", "thanks": "", "tag_id": None} for v in (5, 4, 3, 2, 1)]


def _rows_of(scale: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"value": str(e.get("value", "")), "answers": ", ".join(e.get("answers") or []),
         "thanks": e.get("thanks") or "", "tag_id": e.get("tag_id")}
        for e in scale
    ]  # fmt: skip


def _rows_from_form(form: Any) -> list[dict[str, Any]]:
    values, answers = texts(form, "score_value"), texts(form, "score_answers")
    thanks, tags = texts(form, "score_thanks"), texts(form, "score_tag")
    rows = []
    for i, value in enumerate(values):
        tag = tags[i] if i < len(tags) else ""
        rows.append({"value": value, "answers": answers[i] if i < len(answers) else "",
                     "thanks": thanks[i] if i < len(thanks) else "",
                     "tag_id": int(tag) if tag.isdigit() else None})  # fmt: skip
    return rows


def _scale(user: PanelUser, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The scale the core takes, and a sentence for each problem (rows told by number)."""
    _ = translations(user.language).gettext
    scale: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not (row["value"] or row["answers"] or row["thanks"]):
            continue  # an empty row
        if not row["value"]:
            problems.append(_("Score %(n)s: give its value, a whole number.") % {"n": number})
            continue
        if not _INTEGER.match(row["value"]):
            problems.append(
                _("Score %(n)s: “%(value)s” is not a whole number.")
                % {"n": number, "value": row["value"]}
            )
            continue
        answers = [a.strip() for a in row["answers"].split(",") if a.strip()] or [row["value"]]
        for answer in answers:
            if normalise(answer) in seen:
                problems.append(
                    _("The answer “%(answer)s” counts for two scores.") % {"answer": answer}
                )
            seen.add(normalise(answer))
        scale.append({"value": int(row["value"]), "answers": answers, "thanks": row["thanks"],
                      "tag_id": row["tag_id"]})  # fmt: skip
    if not scale and not problems:
        problems.append(_("Give the scale at least one score."))
    return scale, problems


def _survey_problems(user: PanelUser, data: dict[str, Any]) -> list[str]:
    _ = translations(user.language).gettext
    problems = []
    if not data["name"]:
        problems.append(_("Give the survey a name."))
    elif len(data["name"]) > MAX_SURVEY_NAME:
        problems.append(
            _("The name has %(count)s characters; at most %(max)s fit.")
            % {"count": len(data["name"]), "max": MAX_SURVEY_NAME}
        )
    if not data["question"]:
        problems.append(_("Write the question the client is asked."))
    hours = str(data["min_interval_hours"])
    if not hours.isdigit() or int(hours) > 24 * 30:
        problems.append(
            _("At most one invitation per client every (hours): a whole number from 0 to 720.")
        )
    return problems


def _ratings_page(
    request: Request,
    user: PanelUser,
    *,
    editing: int | None = None,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    with runtime_of(request).db.reading() as session:
        ratings = list_ratings(session, company_id=user.company_id)
        channels, _n = list_channels(session, company_id=user.company_id)
        tags, _m = list_tags(session, company_id=user.company_id, page=Page(200, 0))
        if editing is not None and values is None:
            r = get_rating(session, company_id=user.company_id, rating_id=editing)
            values = {"name": r.name, "question": r.question, "channel_ids": list(r.channel_ids),
                      "tag_ids": list(r.tag_ids), "rows": _rows_of(list(r.scale)),
                      "min_interval_hours": r.min_interval_hours, "hide_scores": r.hide_scores,
                      "enabled": r.enabled}  # fmt: skip
    if values is None:
        values = {"rows": _default_rows(), "min_interval_hours": 12, "enabled": True,
                  "channel_ids": [], "tag_ids": []}  # fmt: skip
    return render(
        request,
        "settings/ratings.html",
        {
            "ratings": ratings,
            "channels": {c.id: c.name for c in channels},
            "tags": {t.id: t.label for t in tags},
            "values": values,
            "editing": editing,
            "section": "ratings",
            "tab": "surveys",
            "errors": errors or [],
        },
        status_code=422 if errors else 200,
    )


@router.get("/settings/ratings")
def ratings_page(request: Request, user: Admin) -> Response:
    return _ratings_page(request, user)


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


@router.get("/settings/ratings/{rating_id}")
def rating_edit_page(request: Request, rating_id: int, user: Admin) -> Response:
    return _ratings_page(request, user, editing=rating_id)


def _ids(form: Any, key: str) -> list[int]:
    return [int(v) for v in form.getlist(key) if isinstance(v, str) and v.isdigit()]


async def _save(request: Request, user: PanelUser, rating_id: int | None) -> Response:
    form = await request.form()
    rows = _rows_from_form(form)
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "question": str(form.get("question") or "").strip(),
        "channel_ids": _ids(form, "channel_ids"),
        "tag_ids": _ids(form, "tag_ids"),
        "rows": rows,
        "min_interval_hours": text(form, "min_interval_hours") or "12",
        "hide_scores": form.get("hide_scores") == "on",
        "enabled": form.get("enabled") == "on",
    }
    action = text(form, "scale_action")
    if action:  # a row added or removed: the form again, nothing saved
        if action == "add":
            rows.append({"value": "", "answers": "", "thanks": "", "tag_id": None})
        elif action.startswith("remove:") and action[7:].isdigit() and int(action[7:]) < len(rows):
            del rows[int(action[7:])]
        return _ratings_page(request, user, editing=rating_id, values=values)
    scale, problems = _scale(user, rows)
    problems = _survey_problems(user, values) + problems
    if problems:
        return _ratings_page(request, user, editing=rating_id, values=values,
                             errors=refusals(user, problems, None))  # fmt: skip
    keys = ("name", "question", "channel_ids", "tag_ids", "min_interval_hours", "hide_scores",
            "enabled")  # fmt: skip
    data = {key: values[key] for key in keys}
    try:
        with write(request, user) as session:
            save_rating(session, company_id=user.company_id, rating_id=rating_id,
                        data={**data, "scale": scale})  # fmt: skip
    except DomainError as exc:
        return _ratings_page(request, user, editing=rating_id, values=values,
                             errors=refusals(user, [], exc))  # fmt: skip
    return redirect("/settings/ratings")


@router.post("/settings/ratings")
async def rating_add(request: Request, user: Admin) -> Response:
    return await _save(request, user, None)


@router.post("/settings/ratings/{rating_id}")
async def rating_edit(request: Request, rating_id: int, user: Admin) -> Response:
    with runtime_of(request).db.reading() as session:
        get_rating(session, company_id=user.company_id, rating_id=rating_id)  # 404 if not ours
    return await _save(request, user, rating_id)


@router.post("/settings/ratings/{rating_id}/delete")
def rating_delete(request: Request, rating_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        delete_rating(session, company_id=user.company_id, rating_id=rating_id)
    return redirect("/settings/ratings")
