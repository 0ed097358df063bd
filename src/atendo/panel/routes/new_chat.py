"""New outbound chat ("Novo ativo"): pick the account (a channel whose transport can start
chats), the addresses, subject, text."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from atendo.core.channels.service import get_channel
from atendo.core.errors import DomainError
from atendo.panel.auth import PanelUser, current_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render, say
from atendo.panel.views import chat_starting_channels
from atendo.transports import registry

router = APIRouter()
User = Annotated[PanelUser, Depends(current_user)]


def _form(
    request: Request,
    user: PanelUser,
    error: str = "",
    status: int = 200,
    values: dict[str, Any] | None = None,
) -> Response:
    with runtime_of(request).db.reading() as session:
        channels = [c for c in chat_starting_channels(session, user) if c.write_first]
    return render(
        request,
        "new_chat.html",
        {"channels": channels, "error": error, "values": values or {"emails": [""]}},
        status_code=status,
    )


@router.get("/chats/new")
def new_chat_form(request: Request, user: User) -> Response:
    return _form(request, user)


@router.post("/chats/new")
async def new_chat(
    request: Request,
    user: User,
    channel_id: Annotated[int, Form()],
    subject: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    only_create: Annotated[str, Form()] = "",
) -> Response:
    form = await request.form()
    emails = [str(v).strip() for v in form.getlist("email") if str(v).strip()]
    _ = translations(user.language).gettext
    values = {
        "emails": emails or [""],
        "subject": subject,
        "text": text,
        "channel_id": channel_id,
        "only_create": bool(only_create),
    }
    if not emails:
        return _form(request, user, _("Add at least one address."), 422, values)
    runtime = runtime_of(request)

    def store() -> int:
        with write(request, user) as session:
            channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
            dialog, _message = registry.get(channel.transport).start_chat(
                session,
                runtime=runtime,
                company_id=user.company_id,
                channel_id=channel_id,
                addresses=emails,
                operator_id=user.id,
                subject=subject or None,
                text=None if only_create else (text or None),
            )
            return int(dialog.id)

    try:
        dialog_id = await asyncio.to_thread(store)
    except DomainError as exc:
        return _form(request, user, say(request, exc), exc.status_code, values)
    target = f"/chats/{dialog_id}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    from fastapi.responses import RedirectResponse

    return RedirectResponse(target, status_code=303)
