"""Actions inside a dialog: reply or comment, assign, close/reopen, tags, the message "eye"
(details and interrupt) and "show images"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from html import escape as html_escape
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from atendo.core.channels.service import get_channel
from atendo.core.dialogs.service import assign_dialog, close_dialog, ensure_request, reopen_dialog
from atendo.core.enums import DeliveryStatus, MessageType
from atendo.core.errors import DomainError, Invalid, NotFound
from atendo.core.messages.drafts import discard_draft, draft_attachments, get_draft, save_draft
from atendo.core.messages.models import Draft, Message
from atendo.core.messages.outbox import interrupt_message
from atendo.core.messages.outgoing import OutgoingAttachment, add_comment
from atendo.core.messages.service import attachments_of, get_message, status_history
from atendo.core.operators.models import Operator
from atendo.core.tags.service import assign_tags, remove_tag
from atendo.core.team.routing import transfer_dialog
from atendo.panel.auth import PanelUser, current_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render, say
from atendo.panel.routes.chats import dialog_head, dialog_messages
from atendo.panel.views import email_html, visible_dialog
from atendo.transports import registry
from atendo.transports.base import Forward, Reply

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


ADDRESS_FIELDS = ("to", "cc", "bcc")


def _address_fields(form: FormData, offered: Sequence[str]) -> dict[str, list[str] | None]:
    """The composer's address fields the transport offers, as the operator left them (a
    field not in the form: None, the transport's default)."""
    out: dict[str, list[str] | None] = {}
    for name in ADDRESS_FIELDS:
        if name in offered:
            raw = form.get(name)
            out[name] = (
                None
                if raw is None
                else [a.strip() for a in str(raw).replace(";", ",").split(",") if a.strip()]
            )
    return out


async def _uploads(form: FormData) -> list[OutgoingAttachment]:
    uploads: list[OutgoingAttachment] = []
    for f in form.getlist("files"):
        if isinstance(f, StarletteUpload) and f.filename:
            uploads.append(
                OutgoingAttachment(
                    f.filename, f.content_type or "application/octet-stream", await f.read()
                )
            )
    return uploads


@router.post("/chats/{dialog_id}/send")
async def send(request: Request, dialog_id: int, user: User) -> Response:
    _ = translations(user.language).gettext
    form = await request.form()
    text = str(form.get("text") or "")
    subject = str(form.get("subject") or "")
    mode = str(form.get("mode") or "reply")
    seen = str(form.get("seen") or "")
    if mode != "comment" and seen.isdigit() and not form.get("anyway") and text.strip():
        with runtime_of(request).db.reading() as session:
            visible_dialog(session, user, dialog_id)
            who = sent_meanwhile(
                session,
                company_id=user.company_id,
                dialog_id=dialog_id,
                after=int(seen),
                me=user.id,
            )
        if who:  # someone else answered since the operator's screen: ask first
            return render(
                request,
                "_sent_meanwhile.html",
                {"who": who},
                status_code=409,
                headers={"HX-Retarget": "#composer-note", "HX-Reswap": "innerHTML"},
            )
    uploads = await _uploads(form)
    runtime = runtime_of(request)

    def store() -> None:
        with write(request, user) as session:
            dialog = visible_dialog(session, user, dialog_id)
            draft = get_draft(
                session, company_id=user.company_id, operator_id=user.id, dialog_id=dialog_id
            )
            if mode == "comment":
                if not text.strip():
                    raise Invalid(_("Write a message first."))
                add_comment(
                    session,
                    company_id=user.company_id,
                    dialog_id=dialog_id,
                    operator_id=user.id,
                    text=text,
                )
                discard_draft(
                    session, company_id=user.company_id, operator_id=user.id, dialog_id=dialog_id
                )
                return
            kept = [
                a
                for a in draft_attachments(runtime.blobs, draft)
                if draft is None or not _dropped(form, draft, a.filename)
            ]
            files = [*kept, *uploads]
            if not text.strip() and not files:
                raise Invalid(_("Write a message first."))
            channel = get_channel(session, company_id=user.company_id, channel_id=dialog.channel_id)
            transport = registry.get(channel.transport)
            addresses = _address_fields(form, transport.composer_fields)
            transport.queue_reply(
                session,
                runtime=runtime,
                company_id=user.company_id,
                dialog_id=dialog_id,
                reply=Reply(
                    text=text,
                    operator_id=user.id,
                    subject=subject or None,
                    attachments=files,
                    to=addresses.get("to"),
                    cc=addresses.get("cc"),
                    bcc=addresses.get("bcc"),
                ),
            )
            discard_draft(
                session, company_id=user.company_id, operator_id=user.id, dialog_id=dialog_id
            )

    try:
        await asyncio.to_thread(store)
    except NotFound:
        raise  # the chat is gone for this operator: the pane's notice says so (panel.app)
    except DomainError as exc:
        return _note(request, _error_sentence(exc, _, say(request, exc)), status=exc.status_code)
    response = dialog_messages(request, dialog_id, user)
    response.headers["HX-Trigger"] = "sent"
    return response


def sent_meanwhile(
    session: Session, *, company_id: int, dialog_id: int, after: int, me: int
) -> str:
    """The name of another operator who answered the client after message ``after`` (what
    the sender had on screen), or ""."""
    row = session.execute(
        select(Operator)
        .join(
            Message,
            (Message.company_id == Operator.company_id) & (Message.operator_id == Operator.id),
        )
        .where(
            Message.company_id == company_id,
            Message.dialog_id == dialog_id,
            Message.id > after,
            Message.type == MessageType.TO_CLIENT,
            Message.operator_id != me,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar()
    return row.full_name if row is not None else ""


@router.post("/chats/{dialog_id}/typing")
async def typing(request: Request, dialog_id: int, user: User) -> Response:
    """The operator is typing in the composer: the dialog's transport tells the client if it
    can (a live chat shows it). Sent by the composer at most every few seconds."""
    runtime = runtime_of(request)
    first = user.name.split()[0] if user.name.strip() and "@" not in user.name else ""

    def signal() -> None:
        with runtime.db.reading() as session:
            dialog = visible_dialog(session, user, dialog_id)
            channel = get_channel(session, company_id=user.company_id, channel_id=dialog.channel_id)
        transport = registry.find(channel.transport)
        if transport is not None:
            transport.typing(
                runtime, company_id=user.company_id, dialog_id=dialog_id, operator_name=first
            )

    await asyncio.to_thread(signal)
    return Response(status_code=204)


def _dropped(form: FormData, draft: Draft, filename: str) -> bool:
    dropped = {str(v) for v in form.getlist("drop_file")}
    return any(f.get("name") == filename and str(f.get("sha")) in dropped for f in draft.files)


# Sentences for the domain's refusals the composer meets most (their English text is the
# API's; the operator reads the catalog's).
def noop_gettext(message: str) -> str:
    """Marks a msgid for the catalogs (checked by tests/panel/test_catalogs.py)."""
    return message


_REFUSALS = {
    "subject": noop_gettext("Write a subject: this conversation has none to answer."),
    "to": noop_gettext("Check the recipients: %(problem)s"),
    "cc": noop_gettext("Check the recipients: %(problem)s"),
    "bcc": noop_gettext("Check the recipients: %(problem)s"),
    "channel_id": noop_gettext("This channel is disabled: nothing can be sent on it."),
    "text": noop_gettext("Write a message first."),
}


def _error_sentence(exc: DomainError, _: Callable[[str], str], otherwise: str) -> str:
    errors = getattr(exc, "errors", None) or {}
    for name, msgid in _REFUSALS.items():
        if name in errors:
            problems = ", ".join(str(p) for p in errors[name])
            bad = [p.rpartition(": ")[2] for p in errors[name] if "not a valid" in str(p)]
            problem = (
                _("not a valid address: %(address)s") % {"address": ", ".join(bad)}
                if bad
                else _("at least one address is needed")
                if "needed" in problems
                else problems
            )
            return _(msgid) % {"problem": problem}
    return otherwise


@router.post("/chats/{dialog_id}/draft")
async def draft(request: Request, dialog_id: int, user: User) -> Response:
    """Keep what the operator is writing (and the files chosen) on the server."""
    form = await request.form()
    uploads = await _uploads(form)
    runtime = runtime_of(request)

    def store() -> Draft:
        with write(request, user) as session:
            dialog = visible_dialog(session, user, dialog_id)
            channel = get_channel(session, company_id=user.company_id, channel_id=dialog.channel_id)
            offered = registry.get(channel.transport).composer_fields
            fields = {k: v for k, v in _address_fields(form, offered).items() if v is not None}
            saved = save_draft(
                session,
                blobs=runtime.blobs,
                company_id=user.company_id,
                operator_id=user.id,
                dialog_id=dialog_id,
                text=str(form.get("text") or ""),
                subject=str(form.get("subject") or ""),
                fields=fields,
                new_files=uploads,
                drop_files=[str(v) for v in form.getlist("drop_file")],
                max_bytes=runtime.settings.max_attachment_bytes,
            )
            session.expunge(saved)
            return saved

    try:
        saved = await asyncio.to_thread(store)
    except DomainError as exc:
        return _note(request, exc.message, status=exc.status_code)
    return render(request, "_draft_files.html", {"pane": None, "draft_files": saved.files})


@router.post("/chats/{dialog_id}/assign")
def assign(
    request: Request,
    dialog_id: int,
    user: User,
    target: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
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
        if operator_id is None and group_id is None:
            assign_dialog(
                session,
                company_id=user.company_id,
                dialog_id=dialog_id,
                comment=comment,
                by_operator_id=user.id,
            )
        else:
            transfer_dialog(
                session,
                company_id=user.company_id,
                dialog_id=dialog_id,
                operator_id=operator_id,
                group_id=group_id,
                comment=comment,
                by_operator_id=user.id,
            )
    return _pane_or_redirect(request, dialog_id, user)


def _pane_or_redirect(request: Request, dialog_id: int, user: PanelUser) -> Response:
    with runtime_of(request).db.reading() as session:
        try:
            visible_dialog(session, user, dialog_id)
        except DomainError:
            return Response(status_code=204, headers={"HX-Redirect": "/chats"})
    return _head(request, dialog_id, user)


def _head(request: Request, dialog_id: int, user: PanelUser) -> Response:
    """After an action in the header: the header again, and the messages told to merge in the
    new timeline line (without re-rendering what the operator is reading)."""
    response = dialog_head(request, dialog_id, user)
    response.headers["HX-Trigger"] = "refresh-messages"
    return response


@router.post("/chats/{dialog_id}/close")
def close(request: Request, dialog_id: int, user: User) -> Response:
    with write(request, user) as session:
        visible_dialog(session, user, dialog_id)
        close_dialog(
            session, company_id=user.company_id, dialog_id=dialog_id, by_operator_id=user.id
        )
    return _head(request, dialog_id, user)


@router.post("/chats/{dialog_id}/reopen")
def reopen(request: Request, dialog_id: int, user: User) -> Response:
    with write(request, user) as session:
        visible_dialog(session, user, dialog_id)
        reopen_dialog(
            session, company_id=user.company_id, dialog_id=dialog_id, by_operator_id=user.id
        )
    return _head(request, dialog_id, user)


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
                by_operator_id=user.id,
                dialog_id=dialog_id,
            )
        else:
            assign_tags(
                session,
                company_id=user.company_id,
                tag_ids=[tag_id],
                assignee_type=assignee_type,
                assignee_id=assignee_id,
                by_operator_id=user.id,
                dialog_id=dialog_id,
            )
    return _head(request, dialog_id, user)


def _visible_message(request: Request, user: PanelUser, message_id: int) -> int:
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        if message.dialog_id is None:
            raise NotFound()
        visible_dialog(session, user, message.dialog_id)
        return message.dialog_id


@router.get("/messages/{message_id}/details")
def details(request: Request, message_id: int, user: User) -> Response:
    _visible_message(request, user, message_id)
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        history = status_history(session, company_id=user.company_id, message_id=message.id)
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
        history = status_history(session, company_id=user.company_id, message_id=message.id)
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
        files = attachments_of(session, [message.id], company_id=user.company_id).get(
            message.id, []
        )
        html = email_html(message, files, images=images)
    return render(request, "_email_body.html", {"m": message, "html": html, "images": images})


@router.get("/messages/{message_id}/text")
def full_text(request: Request, message_id: int, user: User) -> Response:
    """The whole text of a long message, once, when the operator asks for it."""
    _visible_message(request, user, message_id)
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        text = message.text or ""
    return HTMLResponse(f'<div class="text">{html_escape(text)}</div>')


def _forward_form(request: Request, user: PanelUser, message_id: int, **extra: object) -> Response:
    _visible_message(request, user, message_id)
    with runtime_of(request).db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        files = attachments_of(session, [message.id], company_id=user.company_id).get(
            message.id, []
        )
    return render(request, "_forward.html", {"m": message, "files": files, **extra})


@router.get("/messages/{message_id}/forward")
def forward_form(request: Request, message_id: int, user: User) -> Response:
    return _forward_form(request, user, message_id)


@router.post("/messages/{message_id}/forward")
def forward(
    request: Request,
    message_id: int,
    user: User,
    to: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Forward a message (with its attachments) to any address: recorded in the dialog and
    sent like a reply (the clock, interrupt)."""
    _ = translations(user.language).gettext
    dialog_id = _visible_message(request, user, message_id)
    runtime = runtime_of(request)
    addresses = [a.strip() for a in to.replace(";", ",").split(",") if a.strip()]
    try:
        with write(request, user) as session:
            dialog = visible_dialog(session, user, dialog_id)
            channel = get_channel(session, company_id=user.company_id, channel_id=dialog.channel_id)
            registry.get(channel.transport).forward(
                session,
                runtime=runtime,
                company_id=user.company_id,
                forward=Forward(
                    message_id=message_id, to=addresses, note=note, operator_id=user.id
                ),
            )
    except DomainError as exc:
        return _forward_form(
            request,
            user,
            message_id,
            to=to,
            note=note,
            error=_error_sentence(exc, _, say(request, exc)),
        )
    response = _forward_form(request, user, message_id, done=", ".join(addresses))
    response.headers["HX-Trigger"] = "refresh-messages"
    return response
