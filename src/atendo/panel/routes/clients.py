"""The client card: details, past dialogs, block and unblock."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from atendo.core.clients.service import block, list_blocks, unblock
from atendo.core.errors import DomainError
from atendo.core.tags.service import tags_of
from atendo.panel.auth import PanelUser, current_user, runtime_of, write
from atendo.panel.i18n import zone
from atendo.panel.render import _t, render, say
from atendo.panel.views import client_card

router = APIRouter()
User = Annotated[PanelUser, Depends(current_user)]


def end_of_day(value: str, timezone: str) -> datetime | None:
    """A date from a form ("2026-12-31") as the end of that day in the operator's zone."""
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59), tzinfo=zone(timezone))


def _card(request: Request, user: PanelUser, client_id: int, error: str = "") -> Response:
    with runtime_of(request).db.reading() as session:
        ctx = client_card(session, user, client_id)
        ctx["tags"] = tags_of(session, assignee_type="client", assignee_ids=[client_id]).get(
            client_id, []
        )
        ctx["blocks"] = [
            b for b in list_blocks(session, company_id=user.company_id) if b.client_id == client_id
        ]
    ctx["error"] = error
    template = "_client_card.html" if request.headers.get("hx-request") else "client.html"
    return render(request, template, ctx)


@router.get("/clients/{client_id}")
def card(request: Request, client_id: int, user: User) -> Response:
    return _card(request, user, client_id)


@router.post("/clients/{client_id}/block")
def block_client(
    request: Request,
    client_id: int,
    user: User,
    reason: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    expires = end_of_day(until, user.timezone)
    if until and expires is None:
        return _card(request, user, client_id, _t(request, "Pick a valid date."))
    try:
        with write(request, user) as session:
            block(
                session,
                company_id=user.company_id,
                kind="client",
                client_id=client_id,
                reason=reason,
                expires_at=expires,
            )
    except DomainError as exc:
        return _card(request, user, client_id, say(request, exc))
    return _card(request, user, client_id)


@router.post("/clients/{client_id}/unblock")
def unblock_client(request: Request, client_id: int, user: User) -> Response:
    with write(request, user) as session:
        for entry in list_blocks(session, company_id=user.company_id):
            if entry.client_id == client_id:
                unblock(session, company_id=user.company_id, entry_id=entry.id)
    return _card(request, user, client_id)
