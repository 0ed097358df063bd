"""The client card: details, past dialogs, block and unblock."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from atendo.core.clients.service import (
    block,
    custom_client_fields,
    get_client,
    list_blocks,
    list_clients,
    merge_clients,
    unblock,
    update_client,
)
from atendo.core.errors import DomainError, NotFound
from atendo.core.search.service import catch_up
from atendo.core.tags.service import tags_of
from atendo.kit.pagination import Page
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


def _card(
    request: Request, user: PanelUser, client_id: int, error: str = "", notice: str = ""
) -> Response:
    with runtime_of(request).db.reading() as session:
        ctx = client_card(session, user, client_id)
        client_id = ctx["client"].id  # a merged client's id shows the survivor
        ctx["field_names"] = sorted(
            set(custom_client_fields(session, company_id=user.company_id))
            | set(ctx["client"].custom_fields or {})
        )
        ctx["tags"] = tags_of(
            session, company_id=user.company_id, assignee_type="client", assignee_ids=[client_id]
        ).get(client_id, [])
        ctx["blocks"] = [
            b for b in list_blocks(session, company_id=user.company_id) if b.client_id == client_id
        ]
    ctx["error"] = error
    ctx["notice"] = notice
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
    if not reason.strip():
        return _card(request, user, client_id, _t(request, "Say why the client is blocked."))
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


@router.post("/clients/{client_id}")
async def edit_client(request: Request, client_id: int, user: User) -> Response:
    """Name, phone, comment and custom fields (``field:NAME`` inputs, ``new_field`` +
    ``new_value`` for one more)."""
    form = await request.form()
    custom = {
        key.removeprefix("field:"): str(value).strip()
        for key, value in form.multi_items()
        if key.startswith("field:")
    }
    new_field = str(form.get("new_field", "")).strip()[:100]
    if new_field:
        custom[new_field] = str(form.get("new_value", "")).strip()
    changes = {
        "name": str(form.get("name", "")).strip(),
        "phone": str(form.get("phone", "")).strip(),
        "comment": str(form.get("comment", "")).strip(),
        "custom_fields": custom,
    }
    try:
        with write(request, user) as session:
            client = client_card(session, user, client_id)["client"]
            update_client(session, company_id=user.company_id, client_id=client.id, changes=changes)
    except DomainError as exc:
        return _card(request, user, client_id, say(request, exc))
    return _card(request, user, client_id, notice=_t(request, "Saved."))


@router.post("/clients/{client_id}/merge")
def merge_client(
    request: Request, client_id: int, user: User, other: Annotated[str, Form()] = ""
) -> Response:
    """Merge another client (found by e-mail address, phone or #id) into this one."""
    value = other.strip()
    try:
        with runtime_of(request).db.transaction() as session:
            catch_up(session, company_id=user.company_id)
        with write(request, user) as session:
            survivor = client_card(session, user, client_id)["client"]
            found = None
            if value.startswith("#") and value[1:].isdigit():
                found = get_client(session, company_id=user.company_id, client_id=int(value[1:]))
            elif value:
                rows, _n = list_clients(
                    session, company_id=user.company_id, page=Page(2, 0), q=value
                )
                found = rows[0] if len(rows) == 1 else None
            if found is None:
                raise NotFound("Client not found", code="client.merge_not_found")
            merge_clients(
                session,
                company_id=user.company_id,
                survivor_id=survivor.id,
                merged_id=found.id,
                actor=f"operator:{user.id}",
            )
    except DomainError as exc:
        return _card(request, user, client_id, say(request, exc))
    return _card(request, user, client_id, notice=_t(request, "Clients merged."))


@router.post("/clients/{client_id}/unblock")
def unblock_client(request: Request, client_id: int, user: User) -> Response:
    with write(request, user) as session:
        for entry in list_blocks(session, company_id=user.company_id):
            if entry.client_id == client_id:
                unblock(session, company_id=user.company_id, entry_id=entry.id)
    return _card(request, user, client_id)
