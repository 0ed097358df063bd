"""/v1/channels [ext]: connect, change, delete and reconnect channels; attachments and raw mail.

``transport`` picks the adapter through :mod:`atendo.transports.registry`; the adapter
validates the settings with its model and refuses (422, the field named) any it does not
take. Creating or changing an e-mail channel tests IMAP and SMTP for real before answering
(422 with one plain reason per side when it fails).
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, Response

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import PAGING, Param, doc
from atendo.api.routes.shapes import CHANNEL, DISCOVERED, obj
from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    delete_channel,
    get_channel,
    list_channels,
    request_reconnect,
    set_channel_group,
)
from atendo.core.errors import Invalid, NotFound
from atendo.core.lengths import column_length
from atendo.core.messages.models import Attachment
from atendo.core.messages.service import get_message
from atendo.kit.bidi import without_bidi_controls
from atendo.kit.db import get_scoped
from atendo.transports import registry

router = APIRouter(tags=["channels"])


def _settings_params() -> list[Param]:
    """``name``, ``write_first`` and every registered transport's own parameters."""
    params = [Param("name", "string", "the channel's name", max_length=column_length(Channel.name))]
    seen = {"name"}
    for transport in registry.all_transports():
        for extra in transport.api_params:
            if extra.name not in seen:
                seen.add(extra.name)
                params.append(
                    Param(extra.name, extra.type, extra.description, choices=extra.choices)
                )
    params.append(Param("write_first", "boolean", "operators may start chats"))
    params.append(
        Param("group_id", "integer", "the group new chats go to (null: all operators)", ext=True)
    )
    return params


SETTINGS = _settings_params()
TRANSPORT = Param(
    "transport",
    "string",
    "email (default) or another registered transport",
    choices=tuple(registry.names()),
)


def _data(ctx: ApiContext) -> dict[str, Any]:
    """Every parameter sent: the transport refuses (422) what is not one of its settings.
    A list parameter of a transport (``type`` ending in ``[]``) keeps all its items."""
    lists = {
        p.name for t in registry.all_transports() for p in t.api_params if p.type.endswith("[]")
    }
    return {k: ctx.params.items(k) if k in lists else ctx.params.raw(k) for k in ctx.params.names()}


def channel_out(channel: Channel) -> dict[str, Any]:
    return {**registry.get(channel.transport).channel_fields(channel), "group_id": channel.group_id}


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


@router.get(
    "/v1/channels/discover",
    **doc(
        "The servers an address likely uses: a provider preset, its domain's autoconfig file, "
        "its SRV records (RFC 6186) or its MX host's provider",
        [
            Param("email", "string", "the mailbox address", required=True),
            Param("transport", "string", "the channel's transport (default email)"),
        ],
        ext=True,
        data=DISCOVERED,
    ),
)
async def discover(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    address = ctx.params.text("email") or ""
    if not address.strip():
        raise Invalid("email is required", {"email": ["required"]})
    name = ctx.params.text("transport") or "email"
    transport = registry.find(name)
    if transport is None:
        raise Invalid("unknown transport", {"transport": [f"one of {', '.join(registry.names())}"]})
    found = await transport.discover(ctx.runtime, address)
    if found is None:
        raise NotFound("No server settings were found for this address")
    return ok(found)


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
    transport = registry.get(str(data.pop("transport", None) or "email"))
    created = await transport.connect(ctx.runtime, company_id=ctx.company_id, data=data)
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
    data = _data(ctx)
    data.pop("transport", None)
    if "group_id" in data:  # routing's default group: not a transport setting
        data.pop("group_id")
        group_id = ctx.params.integer("group_id")
        with ctx.write() as session:
            set_channel_group(
                session, company_id=ctx.company_id, channel_id=existing.id, group_id=group_id
            )
    if not data:
        with ctx.read() as session:
            return ok(
                channel_out(get_channel(session, company_id=ctx.company_id, channel_id=channel_id))
            )
    transport = registry.get(existing.transport)
    updated = await transport.update(
        ctx.runtime, company_id=ctx.company_id, channel_id=existing.id, data=data
    )
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
    """RFC 6266 + RFC 5987: an ASCII fallback and the UTF-8 name (without bidi overrides)."""
    filename = without_bidi_controls(filename)
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
        att = get_scoped(session, Attachment, attachment_id, company_id=ctx.company_id)
        if att is None:
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
    if not sha or not ctx.runtime.blobs.exists(sha):
        raise NotFound()
    headers = {
        **SAFE_HEADERS,
        "Content-Disposition": _disposition("attachment", f"message-{message_id}.eml"),
    }
    # Streamed from disk: a mail kept raw for its size may be larger than the message limit.
    return FileResponse(ctx.runtime.blobs.path(sha), media_type="message/rfc822", headers=headers)
