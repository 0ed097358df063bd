"""Bulk work from the chat list: the selected chats (or all the filters find) → close, mark
read, assign or transfer, tag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from atendo.core.dialogs.bulk import BulkAction, apply_bulk
from atendo.core.errors import DomainError
from atendo.panel.auth import PanelUser, current_user, runtime_of, write
from atendo.panel.render import _t, render, say
from atendo.panel.routes.chats import index_for_search, list_filters
from atendo.panel.views import matching_dialog_ids, visible_dialog

router = APIRouter()
User = Annotated[PanelUser, Depends(current_user)]


def parse_action(value: str) -> BulkAction | None:
    """ "close", "read", "assign:none", "assign:op:7", "assign:group:3", "tag:5"."""
    kind, _sep, rest = value.partition(":")
    if kind in ("close", "read") and not rest:
        return BulkAction(kind)
    if kind == "assign":
        target, _sep, number = rest.partition(":")
        if target == "none" and not number:
            return BulkAction("assign")
        if number.isdigit() and target in ("op", "group"):
            key = "operator_id" if target == "op" else "group_id"
            return BulkAction("assign", **{key: int(number)})
    if kind == "tag" and rest.isdigit():
        return BulkAction("tag", tag_id=int(rest))
    return None


def _result(request: Request, text: str, *, error: bool, status: int = 200) -> Response:
    headers = {} if error else {"HX-Trigger": "live"}
    return render(
        request,
        "_note.html",
        {"text": text, "error": error},
        status_code=status,
        headers=headers,
    )


@router.post("/chats/bulk")
async def bulk(request: Request, user: User) -> Response:
    form = await request.form()
    action = parse_action(str(form.get("action", "")))
    if action is None:
        return _result(request, _t(request, "Choose an action."), error=True, status=422)
    if form.get("all_matching") == "1":
        # the list's filters come with the form (hx-include="#filters")
        filters = list_filters(form)
        index_for_search(request, user, filters)
        with runtime_of(request).db.reading() as session:
            ids = matching_dialog_ids(session, user, filters)
    else:
        ids = [int(str(v)) for v in form.getlist("ids") if str(v).isdigit() and len(str(v)) < 10]
    try:
        with write(request, user) as session:
            for dialog_id in ids:
                visible_dialog(session, user, dialog_id)
            done = apply_bulk(
                session,
                company_id=user.company_id,
                dialog_ids=ids,
                action=action,
                actor=f"operator:{user.id}",
            )
    except DomainError as exc:
        return _result(request, say(request, exc), error=True, status=exc.status_code)
    text = _t(request, "Done: %(n)s chats.") % {"n": done}
    return _result(request, text, error=False)
