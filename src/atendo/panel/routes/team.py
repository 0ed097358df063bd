"""Settings › Team (admins): how new chats are routed -- each group's rule and members'
skills, each channel's default group, each operator's limit and "new chats unavailable", the
inactivity timeout -- and the audit log: who did what."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from atendo.core.channels.service import list_channels, set_channel_group
from atendo.core.companies.models import Company
from atendo.core.companies.service import list_audit, update_team_settings
from atendo.core.enums import GroupRule
from atendo.core.errors import DomainError
from atendo.core.operators.models import Operator
from atendo.core.operators.service import list_groups, list_operators, update_group, update_operator
from atendo.core.team.statuses import create_status, delete_status, list_statuses
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser, admin_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]
AUDIT_PAGE = 100


def _team_context(session: Session, user: PanelUser) -> dict[str, Any]:
    operators, _n = list_operators(session, company_id=user.company_id, page=Page(200, 0))
    channels, _c = list_channels(session, company_id=user.company_id)
    return {
        "section": "team",
        "company": session.get(Company, user.company_id),
        "groups": list_groups(session, company_id=user.company_id),
        "operators": [o for o in operators if o.role != "disabled"],
        "names": {o.id: o.full_name for o in operators},
        "channels": channels,
        "rules": [r.value for r in GroupRule],
        "custom_statuses": [
            c for c in list_statuses(session, company_id=user.company_id) if not c.builtin
        ],
    }


def _page(request: Request, user: PanelUser, *, error: str = "", status: int = 200) -> Response:
    with runtime_of(request).db.reading() as session:
        ctx = _team_context(session, user)
    _ = translations(user.language).gettext
    notice = _("Saved.") if request.query_params.get("done") == "saved" else ""
    return render(
        request,
        "settings/team.html",
        {**ctx, "error": error, "notice": notice},
        status_code=status,
    )


@router.get("/settings/team")
def team_page(request: Request, user: Admin) -> Response:
    return _page(request, user)


def _saved(change: Any, request: Request, user: PanelUser) -> Response:
    try:
        with write(request, user) as session:
            change(session)
    except DomainError as exc:
        _ = translations(user.language).gettext
        return _page(request, user, error=_(exc.message), status=exc.status_code)
    return RedirectResponse("/settings/team?done=saved", status_code=303)


def _number(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


@router.post("/settings/team/company")
def save_company(
    request: Request,
    user: Admin,
    inactivity_minutes: Annotated[str, Form()] = "",
    requeue_on_offline: Annotated[str, Form()] = "",
) -> Response:
    minutes = _number(inactivity_minutes)
    if minutes is None:
        _ = translations(user.language).gettext
        msg = _("The inactivity timeout is between 0 and 1440 minutes")
        return _page(request, user, error=msg, status=422)
    return _saved(
        lambda s: update_team_settings(
            s,
            company_id=user.company_id,
            inactivity_minutes=minutes,
            requeue_on_offline=requeue_on_offline == "1",
        ),
        request,
        user,
    )


@router.post("/settings/team/groups/{group_id}")
async def save_group(request: Request, group_id: int, user: Admin) -> Response:
    form = await request.form()
    rule = str(form.get("rule", ""))
    members: dict[int, int] = {}
    for key, value in form.multi_items():
        if key.startswith("skill_") and key[6:].isdigit() and str(value).strip():
            skill = _number(str(value))
            if skill is None:
                skill = 0  # refused below with the sentence for skills
            if str(form.get(f"member_{key[6:]}", "")) == "1":
                members[int(key[6:])] = skill
    return _saved(
        lambda s: update_group(
            s, company_id=user.company_id, group_id=group_id, rule=rule or None, members=members
        ),
        request,
        user,
    )


@router.post("/settings/team/channels/{channel_id}")
def save_channel(
    request: Request, channel_id: int, user: Admin, group_id: Annotated[str, Form()] = ""
) -> Response:
    return _saved(
        lambda s: set_channel_group(
            s, company_id=user.company_id, channel_id=channel_id, group_id=_number(group_id)
        ),
        request,
        user,
    )


@router.post("/settings/team/operators/{operator_id}")
def save_operator(
    request: Request,
    operator_id: int,
    user: Admin,
    max_open_dialogs: Annotated[str, Form()] = "",
    new_chats_unavailable: Annotated[str, Form()] = "",
) -> Response:
    limit = _number(max_open_dialogs)
    return _saved(
        lambda s: update_operator(
            s,
            company_id=user.company_id,
            operator_id=operator_id,
            max_open_dialogs=limit or None,
            new_chats_unavailable=new_chats_unavailable == "1",
        ),
        request,
        user,
    )


@router.post("/settings/team/statuses")
def add_status(
    request: Request,
    user: Admin,
    name: Annotated[str, Form()] = "",
    working: Annotated[str, Form()] = "",
) -> Response:
    return _saved(
        lambda s: create_status(s, company_id=user.company_id, name=name, working=working == "1"),
        request,
        user,
    )


@router.post("/settings/team/statuses/{key}/delete")
def remove_status(request: Request, key: str, user: Admin) -> Response:
    return _saved(lambda s: delete_status(s, company_id=user.company_id, key=key), request, user)


@router.get("/settings/audit")
def audit_page(request: Request, user: Admin) -> Response:
    offset = request.query_params.get("offset", "")
    start = int(offset) if offset.isdigit() else 0
    with runtime_of(request).db.reading() as session:
        entries, total = list_audit(
            session,
            company_id=user.company_id,
            named_only=False,
            limit=AUDIT_PAGE,
            offset=start,
        )
        ids = {e.operator_id for e in entries if e.operator_id} | {
            int(e.actor.split(":", 1)[1])
            for e in entries
            if e.actor.startswith("operator:") and e.actor.split(":", 1)[1].isdigit()
        }
        names = {
            op.id: op.full_name
            for op in (
                get_scoped(session, Operator, i, company_id=user.company_id) for i in sorted(ids)
            )
            if op is not None
        }
    return render(
        request,
        "settings/audit.html",
        {
            "section": "audit",
            "entries": entries,
            "names": names,
            "next_offset": start + AUDIT_PAGE if start + AUDIT_PAGE < total else None,
        },
    )
