"""Writing to clients: POST /v1/dialogs [ext], POST /v1/messages, interrupt [ext],
GET /gateway/delete_outbox, PUT /v1/dialogs/{id}.

Handlers are thin: they read parameters, fetch an attachment URL (before the transaction, so
a slow server never holds the database), and call the same service functions as the panel.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.params import Params
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import DELETED, DIALOG, MESSAGE, SENT, obj
from atendo.api.serializers import dialogs_out, messages_out
from atendo.core.channels.models import Channel
from atendo.core.channels.service import get_channel
from atendo.core.clients.models import ClientIdentity
from atendo.core.clients.service import get_client
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import (
    assign_dialog,
    close_dialog,
    find_dialog,
    get_dialog,
    open_dialog,
    reopen_dialog,
)
from atendo.core.enums import DialogState, MessageType
from atendo.core.errors import Invalid, NotFound
from atendo.core.lengths import column_length
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outbox import interrupt_message, interrupt_queued
from atendo.core.messages.outgoing import OutgoingAttachment, add_comment
from atendo.kit.guarded_fetch import FetchFailed, FetchTooLarge, guarded_fetch
from atendo.transports import registry
from atendo.transports.base import Reply

# An e-mail address: as wide as the column that keeps one.
ADDRESS = column_length(ClientIdentity.address)

router = APIRouter(tags=["messages"])


# --- attachments --------------------------------------------------------------------------


async def fetch_attachment(
    url: str, *, limit: int, filename: str | None, allow_private: bool
) -> OutgoingAttachment:
    """Download an attachment given by URL: http(s) only, public addresses only (unless the
    installation allows private networks), at most ``limit`` bytes, one 10 s deadline."""
    if not url.lower().startswith(("http://", "https://")):
        raise Invalid("attachment must be an http(s) URL", {"attachment": ["http(s) URL only"]})
    try:
        fetched = await guarded_fetch(url, allow_private=allow_private, max_bytes=limit)
    except FetchTooLarge:
        raise Invalid(
            "Attachment is too large", {"attachment": [f"at most {limit} bytes per message"]}
        ) from None
    except FetchFailed as exc:
        raise Invalid(
            f"attachment could not be downloaded: {exc}", {"attachment": [str(exc)]}
        ) from None
    name = filename or fetched.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return OutgoingAttachment(
        filename=name or "attachment", content_type=fetched.content_type, data=fetched.data
    )


async def attachments_from(ctx: ApiContext) -> list[OutgoingAttachment]:
    p = ctx.params
    limit = ctx.runtime.settings.max_attachment_bytes
    filename = p.text("attachment_filename")
    upload = p.upload("attachment")
    if upload is not None:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise Invalid(
                "Attachment is too large", {"attachment": [f"at most {limit} bytes per message"]}
            )
        return [
            OutgoingAttachment(
                filename=filename or upload.filename or "attachment",
                content_type=upload.content_type or "application/octet-stream",
                data=data,
            )
        ]
    url = p.text("attachment")
    if url:
        allow_private = ctx.runtime.settings.webhooks_allow_private_networks
        return [
            await fetch_attachment(url, limit=limit, filename=filename, allow_private=allow_private)
        ]
    return []


# --- new outbound chat [ext] ---------------------------------------------------------------


@router.post(
    "/v1/dialogs",
    **doc(
        "Start a new outbound e-mail chat [ext]",
        [
            Param("channel_id", "integer", "an e-mail channel with write_first on", required=True),
            Param("emails", "string[]", "one or more client addresses", max_length=ADDRESS),
            Param("client_id", "integer", "an existing client"),
            Param("operator_id", "integer", "the operator writing"),
            Param(
                "subject",
                "string",
                "required when text is given",
                max_length=column_length(Dialog.subject),
            ),
            Param("text", "string", "the first message (optional)"),
            Param("html", "string", "its HTML alternative (optional)"),
        ],
        body=True,
        ext=True,
        data=obj({"dialog_id": "integer", "client_id": "integer", "message_id": "integer?"}),
    ),
)
def new_dialog(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    channel_id = p.integer("channel_id")
    if channel_id is None:
        raise Invalid("channel_id is required", {"channel_id": ["required"]})
    emails = [str(e) for e in p.items("emails")] or [str(e) for e in p.items("email")]
    with ctx.write() as session:
        channel = get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        dialog, message = registry.get(channel.transport).start_chat(
            session,
            runtime=ctx.runtime,
            company_id=ctx.company_id,
            channel_id=channel_id,
            addresses=emails,
            operator_id=p.integer("operator_id"),
            subject=p.text("subject"),
            text=p.text("text"),
            html=p.text("html"),
            client_id=p.integer("client_id"),
        )
        return ok(
            {
                "dialog_id": dialog.id,
                "client_id": dialog.client_id,
                "message_id": message.id if message else None,
            }
        )


# --- POST /v1/messages -----------------------------------------------------------------------


def _resolve_dialog(session: Session, ctx: ApiContext) -> Dialog:
    p = ctx.params
    dialog_id = p.integer("dialog_id")
    if dialog_id is not None:
        return get_dialog(session, company_id=ctx.company_id, dialog_id=dialog_id)
    client_id = p.integer("client_id")
    if client_id is None:
        raise Invalid("client_id or dialog_id is required", {"client_id": ["required"]})
    client = get_client(session, company_id=ctx.company_id, client_id=client_id)
    channel_id = p.integer("channel_id")
    if channel_id is not None:
        get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        found = find_dialog(
            session, company_id=ctx.company_id, client_id=client.id, channel_id=channel_id
        )
        if found is not None:
            return found
        return open_dialog(
            session, company_id=ctx.company_id, client_id=client.id, channel_id=channel_id
        )
    stmt = (
        select(Dialog)
        .join(
            Channel, (Channel.company_id == Dialog.company_id) & (Channel.id == Dialog.channel_id)
        )
        .where(Dialog.company_id == ctx.company_id, Dialog.client_id == client.id)
        .order_by((Dialog.state == DialogState.OPEN).desc(), Dialog.id.desc())
    )
    transport = p.text("transport")
    if transport:
        stmt = stmt.where(Channel.transport == transport)
    found = session.scalars(stmt.limit(1)).first()
    if found is None:
        raise NotFound("The client has no dialog on that channel")
    return found


def _addresses(p: Params, name: str) -> list[str] | None:
    """``to[]`` / ``cc[]`` / ``bcc[]``: absent → None (the transport's default applies);
    given, even empty → exactly these."""
    if not p.has(name):
        return None
    return [str(a) for a in p.items(name)]


def _message_type(raw: str | None) -> MessageType:
    value = (raw or MessageType.TO_CLIENT.value).strip().lower()
    allowed = (MessageType.TO_CLIENT, MessageType.COMMENT, MessageType.AUTOREPLY)
    for t in allowed:
        if t.value == value:
            return t
    raise Invalid(
        "type must be to_client, comment or autoreply",
        {"type": [f"one of {', '.join(t.value for t in allowed)}"]},
    )


def _post_message(ctx: ApiContext, attachments: list[OutgoingAttachment]) -> dict[str, Any]:
    p = ctx.params
    type_ = _message_type(p.text("type"))
    text = p.text("text") or ""
    operator_id = p.integer("operator_id")
    with ctx.write() as session:
        dialog = _resolve_dialog(session, ctx)
        channel = get_channel(session, company_id=ctx.company_id, channel_id=dialog.channel_id)
        if dialog.state != DialogState.OPEN and p.boolean("open_dialog", True):
            reopen_dialog(session, company_id=ctx.company_id, dialog_id=dialog.id)
        message: Message
        if type_ == MessageType.COMMENT:
            message = add_comment(
                session,
                company_id=ctx.company_id,
                dialog_id=dialog.id,
                operator_id=operator_id,
                text=text,
            )
        else:
            transport = registry.get(channel.transport)
            message = transport.queue_reply(
                session,
                runtime=ctx.runtime,
                company_id=ctx.company_id,
                dialog_id=dialog.id,
                reply=Reply(
                    text=text,
                    operator_id=operator_id,
                    type=type_,
                    html=p.text("html"),
                    subject=p.text("subject"),
                    to=_addresses(p, "to"),
                    cc=_addresses(p, "cc"),
                    bcc=_addresses(p, "bcc"),
                    attachments=attachments,
                    external_id=p.text("external_id"),
                ),
            )
        if p.text("external_id") and not message.external_id:
            message.external_id = p.text("external_id")
            session.flush()
        return {
            "message_id": message.id,
            "channel_id": message.channel_id,
            "operator_id": message.operator_id,
            "transport": message.transport,
            "type": message.type,
            "client_id": message.client_id,
            "dialog_id": message.dialog_id,
            "request_id": message.request_id,
        }


@router.post(
    "/v1/messages",
    **doc(
        "Send a message to a client (e-mail: queued in the outbox)",
        [
            Param("client_id", "integer", "the client (or dialog_id)"),
            Param("text", "string", "the message text"),
            Param(
                "type",
                "string",
                "to_client (default), comment or autoreply",
                choices=("to_client", "comment", "autoreply"),
            ),
            Param("transport", "string", "the transport, when the client has several"),
            Param("channel_id", "integer", "the channel"),
            Param("operator_id", "integer", "the operator writing"),
            Param("open_dialog", "boolean", "reopen a closed dialog (default true)"),
            Param(
                "external_id",
                "string",
                "your id for the message",
                max_length=column_length(Message.external_id),
            ),
            Param("attachment", "file", "a URL to attach, or the file itself (multipart)"),
            Param(
                "attachment_filename",
                "string",
                "the attachment's name",
                max_length=column_length(Attachment.filename),
            ),
            Param(
                "subject",
                "string",
                "e-mail subject (default Re: the thread's)",
                ext=True,
                max_length=column_length(Message.subject),
            ),
            Param("html", "string", "e-mail HTML (default built from text)", ext=True),
            Param("dialog_id", "integer", "the dialog", ext=True),
            Param(
                "to",
                "string[]",
                "e-mail To addresses (default: reply-all's To, the client's Reply-To or From)",
                ext=True,
                max_length=ADDRESS,
            ),
            Param(
                "cc",
                "string[]",
                "e-mail Cc addresses (default: reply-all's, the client's To and Cc minus ours)",
                ext=True,
                max_length=ADDRESS,
            ),
            Param(
                "bcc",
                "string[]",
                "e-mail Bcc addresses (never in the headers)",
                ext=True,
                max_length=ADDRESS,
            ),
        ],
        body=True,
        data=SENT,
    ),
)
async def post_message(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    attachments = await attachments_from(ctx)
    data = await run_in_threadpool(_post_message, ctx, attachments)
    return ok(data)


# --- the outbox [ext] -------------------------------------------------------------------------


@router.post(
    "/v1/messages/{message_id}/interrupt",
    **doc("Interrupt a queued message [ext]", ext=True, data=MESSAGE),
)
def interrupt(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        message = interrupt_message(session, company_id=ctx.company_id, message_id=message_id)
        return ok(messages_out(session, [message])[0])


@router.get(
    "/gateway/delete_outbox",
    **doc(
        "Interrupt every queued outgoing message (or the filtered ones)",
        [
            Param("channel_id", "integer", "only this channel's"),
            Param("client_id", "integer", "only this client's"),
            Param("message_id", "integer", "only this message"),
        ],
        data=DELETED,
    ),
)
def delete_outbox(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    with ctx.write() as session:
        count = interrupt_queued(
            session,
            company_id=ctx.company_id,
            channel_id=p.integer("channel_id"),
            client_id=p.integer("client_id"),
            message_id=p.integer("message_id"),
        )
        return ok({"deleted": count})


# --- PUT /v1/dialogs/{id} ---------------------------------------------------------------------


@router.put(
    "/v1/dialogs/{dialog_id}",
    **doc(
        "Assign, close or reopen a dialog",
        [
            Param("operator_id", "integer", "assign to this operator"),
            Param("state", "string", "open or closed", choices=("open", "closed")),
            Param("force_assign", "boolean", "accepted for compatibility"),
        ],
        body=True,
        data=DIALOG,
    ),
)
def update_dialog(dialog_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    state = p.text("state")
    if state is not None and state not in (DialogState.OPEN, DialogState.CLOSED):
        raise Invalid("state must be open or closed", {"state": ["open or closed"]})
    operator_id = p.integer("operator_id")
    p.boolean("force_assign")  # accepted (and validated) for compatibility
    with ctx.write() as session:
        dialog = get_dialog(session, company_id=ctx.company_id, dialog_id=dialog_id)
        if operator_id is not None and operator_id != dialog.operator_id:
            dialog = assign_dialog(
                session, company_id=ctx.company_id, dialog_id=dialog.id, operator_id=operator_id
            )
        if state == DialogState.CLOSED:
            dialog = close_dialog(session, company_id=ctx.company_id, dialog_id=dialog.id)
        elif state == DialogState.OPEN:
            dialog = reopen_dialog(session, company_id=ctx.company_id, dialog_id=dialog.id)
        return ok(dialogs_out(session, [dialog])[0])
