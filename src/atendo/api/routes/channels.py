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
from atendo.channels.email.channels import (
    connect_email_channel,
    email_channel_out,
    update_email_channel,
)
from atendo.channels.email.settings import EmailChannelSettings
from atendo.channels.external import open_external_channel
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

router = APIRouter(tags=["channels"])

FIELDS = (*EmailChannelSettings.model_fields, "name", "transport", "password", "smtp_password")


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


@router.get("/v1/channels")
def channels(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        rows, total = list_channels(
            session, company_id=ctx.company_id, page=p, transport=ctx.params.text("transport")
        )
        return page([channel_out(c) for c in rows], total=total, page=p)


@router.get("/v1/channels/{channel_id}")
def channel(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        return ok(
            channel_out(get_channel(session, company_id=ctx.company_id, channel_id=channel_id))
        )


@router.post("/v1/channels")
async def create(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    data = _data(ctx)
    transport = str(data.pop("transport", None) or "email")
    created = await _dispatch_create(ctx, transport, data)
    return ok(channel_out(created), status_code=201)


@router.put("/v1/channels/{channel_id}")
async def change(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        existing = get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
    updated = await _dispatch_update(ctx, existing, _data(ctx))
    return ok(channel_out(updated))


@router.delete("/v1/channels/{channel_id}")
def remove(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        delete_channel(session, company_id=ctx.company_id, channel_id=channel_id)
    return ok({"id": channel_id, "deleted": True})


@router.post("/v1/channels/{channel_id}/reconnect")
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


@router.get("/v1/attachments/{attachment_id}")
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


@router.get("/v1/messages/{message_id}/raw")
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
