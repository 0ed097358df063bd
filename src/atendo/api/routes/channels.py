"""/v1/channels [ext]: connect, change, delete and reconnect channels; attachments and raw mail.

Creating or changing an e-mail channel tests IMAP and SMTP for real before answering (422 with
one plain reason per side when it fails). ``transport`` picks the adapter: ``email`` here;
other transports plug in at :func:`_dispatch_create` / :func:`_dispatch_update`.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import PAGING, Param, doc
from atendo.api.routes.shapes import CHANNEL, obj
from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    delete_channel,
    get_channel,
    list_channels,
    request_reconnect,
)
from atendo.core.errors import Invalid, NotFound
from atendo.core.messages.models import Attachment
from atendo.core.messages.service import get_message
from atendo.transports.email.channels import (
    connect_email_channel,
    email_channel_out,
    update_email_channel,
)
from atendo.transports.email.settings import EmailChannelSettings
from atendo.transports.external import open_external_channel

router = APIRouter(tags=["channels"])

FIELDS = (*EmailChannelSettings.model_fields, "name", "transport", "password", "smtp_password")


SECURITY = ("ssl", "starttls", "none")
SETTINGS = [
    Param("name", "string", "the channel's name", max_length=200),
    Param("email", "string", "the mailbox address (e-mail)"),
    Param("sender_name", "string", "the From name (e-mail)"),
    Param("imap_host", "string", "IMAP server (e-mail)"),
    Param("imap_port", "integer", "IMAP port (default by security)"),
    Param("imap_security", "string", "ssl, starttls or none", choices=SECURITY),
    Param("smtp_host", "string", "SMTP server (e-mail)"),
    Param("smtp_port", "integer", "SMTP port (default by security)"),
    Param("smtp_security", "string", "ssl, starttls or none", choices=SECURITY),
    Param("login", "string", "IMAP login (default: the address)"),
    Param("password", "string", "IMAP password (never shown back)"),
    Param("smtp_login", "string", "SMTP login when it differs"),
    Param("smtp_password", "string", "SMTP password when it differs"),
    Param("send_delay", "integer", "seconds a message waits in the outbox (0–300, default 15)"),
    Param("write_first", "boolean", "operators may start chats"),
    Param("import_days", "integer", "how far back the first sync reaches (default 3)"),
    Param("copy_to_sent", "boolean", "keep a copy in the Sent folder"),
    Param("reply_to", "string", "a Reply-To address"),
    Param("tls_verify", "boolean", "verify the servers' certificates (default true)"),
]
TRANSPORT = Param(
    "transport", "string", "email (default) or external", choices=("email", "external")
)


def _data(ctx: ApiContext) -> dict[str, Any]:
    return {k: ctx.params.raw(k) for k in FIELDS if ctx.params.has(k)}


def channel_out(channel: Channel) -> dict[str, Any]:
    if channel.transport == "email":
        return email_channel_out(channel)
    out = email_channel_out(channel)
    out["password_set"] = bool(channel.secrets)
    return out


async def _dispatch_create(ctx: ApiContext, transport: str, data: dict[str, Any]) -> Channel:
    if transport == "email":
        return await connect_email_channel(ctx.runtime, company_id=ctx.company_id, data=data)
    if transport == "external":
        return await open_external_channel(ctx.runtime, company_id=ctx.company_id, data=data)
    raise Invalid("unsupported transport", {"transport": ["unsupported transport"]})


async def _dispatch_update(ctx: ApiContext, channel: Channel, data: dict[str, Any]) -> Channel:
    if channel.transport == "email":
        return await update_email_channel(
            ctx.runtime, company_id=ctx.company_id, channel_id=channel.id, data=data
        )
    raise Invalid("unsupported transport", {"transport": ["unsupported transport"]})


@router.get(
    "/v1/channels",
    **doc(
        "The company's channels",
        [Param("transport", "string", "only this transport's", ext=True), *PAGING],
        data=CHANNEL,
        listing=True,
    ),
)
def channels(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        rows, total = list_channels(
            session, company_id=ctx.company_id, page=p, transport=ctx.params.text("transport")
        )
        return page([channel_out(c) for c in rows], total=total, page=p)


@router.get("/v1/channels/{channel_id}", **doc("One channel", data=CHANNEL))
def channel(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        return ok(
            channel_out(get_channel(session, company_id=ctx.company_id, channel_id=channel_id))
        )


@router.post(
    "/v1/channels",
    **doc(
        "Connect a channel: an e-mail account (IMAP and SMTP are tested first) or an external one",
        [TRANSPORT, *SETTINGS],
        body=True,
        ext=True,
        data=CHANNEL,
        status=201,
    ),
)
async def create(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    data = _data(ctx)
    transport = str(data.pop("transport", None) or "email")
    created = await _dispatch_create(ctx, transport, data)
    return ok(channel_out(created), status_code=201)


@router.put(
    "/v1/channels/{channel_id}",
    **doc(
        "Change a channel's settings (connection changes are tested first)",
        SETTINGS,
        body=True,
        ext=True,
        data=CHANNEL,
    ),
)
async def change(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        existing = get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
    updated = await _dispatch_update(ctx, existing, _data(ctx))
    return ok(channel_out(updated))


@router.delete(
    "/v1/channels/{channel_id}",
    **doc("Delete a channel", ext=True, data=obj({"id": "integer", "deleted": "boolean"})),
)
def remove(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        delete_channel(session, company_id=ctx.company_id, channel_id=channel_id)
    return ok({"id": channel_id, "deleted": True})


@router.post(
    "/v1/channels/{channel_id}/reconnect",
    **doc("Reconnect a channel now", ext=True, data=CHANNEL),
)
def reconnect(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        row = request_reconnect(session, company_id=ctx.company_id, channel_id=channel_id)
        return ok(channel_out(row))


def _disposition(kind: str, filename: str) -> str:
    """RFC 6266 + RFC 5987: an ASCII fallback and the exact UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"{kind}; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(filename, safe='')}"


SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@router.get(
    "/v1/attachments/{attachment_id}",
    **doc(
        "Download an attachment (images inline, everything else as a file)",
        ext=True,
        media="application/octet-stream",
    ),
)
def attachment(attachment_id: int, ctx: ApiContext = Depends(api_context)) -> Response:
    with ctx.read() as session:
        att = session.get(Attachment, attachment_id)
        if att is None or att.company_id != ctx.company_id:
            raise NotFound()
        filename, ctype, sha = att.filename, att.content_type.lower(), att.blob_sha
    data = ctx.runtime.blobs.get(sha)
    # Only plain raster images may render inline (no SVG: it can carry scripts).
    inline = ctype in INLINE_TYPES
    media = ctype if inline else (mimetypes.guess_type(filename)[0] or "application/octet-stream")
    if not inline and media.startswith(("text/html", "image/svg", "application/xhtml")):
        media = "application/octet-stream"
    headers = {
        **SAFE_HEADERS,
        "Content-Disposition": _disposition("inline" if inline else "attachment", filename),
    }
    return Response(content=data, media_type=media, headers=headers)


@router.get(
    "/v1/messages/{message_id}/raw",
    **doc("The original e-mail as received (.eml)", ext=True, media="message/rfc822"),
)
def raw_message(message_id: int, ctx: ApiContext = Depends(api_context)) -> Response:
    with ctx.read() as session:
        message = get_message(session, company_id=ctx.company_id, message_id=message_id)
        sha = message.raw_sha
    if not sha:
        raise NotFound()
    headers = {
        **SAFE_HEADERS,
        "Content-Disposition": _disposition("attachment", f"message-{message_id}.eml"),
    }
    return Response(
        content=ctx.runtime.blobs.get(sha), media_type="message/rfc822", headers=headers
    )
