"""Attachments for the panel (session-authenticated), read from the blob store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from atendo.core.errors import NotFound
from atendo.core.messages.models import Attachment
from atendo.core.messages.service import get_message
from atendo.kit.bidi import without_bidi_controls
from atendo.kit.db import get_scoped
from atendo.panel.auth import PanelUser, current_user, runtime_of
from atendo.panel.headers import DOWNLOAD_CSP
from atendo.panel.views import visible_dialog

router = APIRouter()

# Served types that a browser may show inline without running anything.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "text/plain")


@router.get("/panel/attachments/{attachment_id}")
def attachment(
    request: Request, attachment_id: int, user: Annotated[PanelUser, Depends(current_user)]
) -> Response:
    runtime = runtime_of(request)
    with runtime.db.reading() as session:
        att = get_scoped(session, Attachment, attachment_id, company_id=user.company_id)
        if att is None:
            raise NotFound()
        message = get_message(session, company_id=user.company_id, message_id=att.message_id)
        if message.dialog_id is not None:
            visible_dialog(session, user, message.dialog_id)
        sha, name, ctype = att.blob_sha, att.filename, att.content_type
    data = runtime.blobs.get(sha)
    inline = ctype in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    safe = without_bidi_controls(name).replace('"', "").replace("\r", "").replace("\n", "")
    from urllib.parse import quote

    return Response(
        data,
        media_type=ctype if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(safe)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOWNLOAD_CSP,
        },
    )


@router.get("/panel/messages/{message_id}/original")
def original(
    request: Request, message_id: int, user: Annotated[PanelUser, Depends(current_user)]
) -> Response:
    """The raw mail as received (for messages that could not be read)."""
    runtime = runtime_of(request)
    with runtime.db.reading() as session:
        message = get_message(session, company_id=user.company_id, message_id=message_id)
        if message.dialog_id is not None:
            visible_dialog(session, user, message.dialog_id)
        elif not user.is_admin:  # hidden mail outside any dialog: the admins' page only
            raise NotFound()
        sha = message.raw_sha
    if not sha or not runtime.blobs.exists(sha):
        raise NotFound()
    return FileResponse(  # streamed: a mail kept raw for its size may be very large
        runtime.blobs.path(sha),
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="message-{message_id}.eml"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOWNLOAD_CSP,
        },
    )
