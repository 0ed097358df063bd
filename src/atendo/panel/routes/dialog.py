"""Actions inside a dialog: reply or comment, assign, close/reopen, tags, the message "eye"
(details and interrupt) and "show images"."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from atendo.core.channels.service import get_channel
from atendo.core.dialogs.service import assign_dialog, close_dialog, ensure_request, reopen_dialog
from atendo.core.enums import DeliveryStatus
from atendo.core.errors import DomainError
from atendo.core.messages.outbox import interrupt_message
from atendo.core.messages.outgoing import OutgoingAttachment, add_comment
from atendo.core.messages.service import attachments_of, get_message, status_history
from atendo.core.tags.service import assign_tags, remove_tag
from atendo.panel.auth import PanelUser, current_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render, say
from atendo.panel.routes.chats import dialog_messages, dialog_pane
from atendo.panel.views import email_html, visible_dialog
from atendo.transports import registry
from atendo.transports.base import Reply

router = APIRouter()
User = Annotated[PanelUser, Depends(current_user)]


def _note(request: Request, text: str, *, error: bool = True, status: int = 200) -> Response:
    return render(
        request,
        "_note.html",
        {"text": text, "error": error},
        status_code=status,
        headers={"HX-Retarget": "#composer-note", "HX-Reswap": "innerHTML"},
    )


@router.post("/chats/{dialog_id}/send")
async def send(
    request: Request,
    dialog_id: int,
    user: User,
    text: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "reply",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    _ = translations(user.language).gettext
    if not text.strip() and not files:
        return _note(request, _("Write a message first."), status=422)
    runtime = runtime_of(request)
    uploads = []
    for f in files or []:
        if f.filename:
            uploads.append(
                (f.filename, f.content_type or "application/octet-stream", await f.read())
            )

    def store() -> None:
        with write(request, user) as session:
            dialog = visible_dialog(session, user, dialog_id)
            if mode == "comment":
                add_comment(
                    session,
                    company_id=user.company_id,
                    dialog_id=dialog_id,
                    operator_id=user.id,
                    text=text,
                )
                return
            channel = get_channel(session, company_id=user.company_id, channel_id=dialog.channel_id)
            registry.get(channel.transport).queue_reply(
                session,
                runtime=runtime,
                company_id=user.company_id,
                dialog_id=dialog_id,
                reply=Reply(
                    text=text,
                    operator_id=user.id,
                    subject=subject or None,
                    attachments=[OutgoingAttachment(n, t, d) for n, t, d in uploads],
                ),
            )

    try:
        await asyncio.to_thread(store)
    except DomainError as exc:
        return _note(request, say(request, exc), status=exc.status_code)
    response = dialog_messages(request, dialog_id, user)
    response.headers["HX-Trigger"] = "sent"
    return response


@router.post("/chats/{dialog_id}/assign")
def assign(
    request: Request,
    dialog_id: int,
    user: User,
    target: Annotated[str, Form()] = "",
) -> Response:
    operator_id: int | None = None
    group_id: int | None = None
    kind, _sep, value = target.partition(":")
    if kind == "op" and value.isdigit():
        operator_id = int(value)
    elif kind == "group" and value.isdigit():
        group_id = int(value)
    elif kind == "me":
        operator_id = user.id
    with write(request, user) as session:
        visible_dialog(session, user, dialog_id)
        assign_dialog(
            session,
            company_id=user.company_id,
            dialog_id=dialog_id,
            operator_id=operator_id,
            group_id=group_id,
        )
    return _pane_or_redirect(request, dialog_id, user)


def _pane_or_redirect(request: Request, dialog_id: int, user: PanelUser) -> Response:
    with runtime_of(request).db.reading() as session:
        try:
            visible_dialog(session, user, dialog_id)
        except DomainError:
            return Response(status_code=204, headers={"HX-Redirect": "/chats"})
    return dialog_pane(request, dialog_id, user)


@router.post("/chats/{dialog_id}/close")
def close(request: Request, dialog_id: int, user: User) -> Response:
    with write(request, user) as session:
        visible_dialog(session, user, dialog_id)
        close_dialog(session, company_id=user.company_id, dialog_id=dialog_id)
    return dialog_pane(request, dialog_id, user)


@router.post("/chats/{dialog_id}/reopen")
def reopen(request: Request, dialog_id: int, user: User) -> Response:
    with write(request, user) as session:
        visible_dialog(session, user, dialog_id)
        reopen_dialog(session, company_id=user.company_id, dialog_id=dialog_id)
    return dialog_pane(request, dialog_id, user)


@router.post("/chats/{dialog_id}/tags")
def tags(
    request: Request,
    dialog_id: int,
    user: User,
    tag_id: Annotated[int, Form()],
    on: Annotated[str, Form()] = "client",
    action: Annotated[str, Form()] = "add",
) -> Response:
    with write(request, user) as session:
        dialog = visible_dialog(session, user, dialog_id)
        if on == "request":
            request_row, _new = ensure_request(session, dialog=dialog)
            assignee_type, assignee_id = "request", request_row.id
        else:
            assignee_type, assignee_id = "client", dialog.client_id
        if action == "remove":
            remove_tag(
                session,
                company_id=user.company_id,
                tag_id=tag_id,
                assignee_type=assignee_type,
                assignee_id=assignee_id,
            )
        else:
            assign_tags(
                session,
                company_id=user.company_id,
                tag_ids=[tag_id],
                assignee_type=assignee_type,
                assignee_id=assignee_id,
            )
    return dialog_pane(request, dialog_id, user)


def _visible_message(request: Request, user: PanelUser, message_id: int) -> int:
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        if message.dialog_id is None:
            from atendo.core.errors import NotFound

            raise NotFound()
        visible_dialog(session, user, message.dialog_id)
        return message.dialog_id


@router.get("/messages/{message_id}/details")
def details(request: Request, message_id: int, user: User) -> Response:
    _visible_message(request, user, message_id)
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        history = status_history(session, message_id=message.id)
    return render(
        request,
        "_message_details.html",
        {"m": message, "history": history, "queued": message.delivery_status == "queued"},
    )


@router.post("/messages/{message_id}/interrupt")
def interrupt(request: Request, message_id: int, user: User) -> Response:
    _visible_message(request, user, message_id)
    error = ""
    try:
        with write(request, user) as session:
            interrupt_message(session, company_id=user.company_id, message_id=message_id)
    except DomainError as exc:
        error = say(request, exc)
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        history = status_history(session, message_id=message.id)
    response = render(
        request,
        "_message_details.html",
        {
            "m": message,
            "history": history,
            "queued": message.delivery_status == DeliveryStatus.QUEUED,
            "interrupted": message.delivery_status == DeliveryStatus.CANCELLED and not error,
            "error": error,
        },
    )
    response.headers["HX-Trigger"] = "refresh-messages"
    return response


@router.get("/messages/{message_id}/body")
def body(request: Request, message_id: int, user: User) -> Response:
    _visible_message(request, user, message_id)
    images = request.query_params.get("images") == "1"
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        files = attachments_of(session, [message.id]).get(message.id, [])
        html = email_html(message, files, images=images)
    return render(request, "_email_body.html", {"m": message, "html": html, "images": images})
