"""Server-Sent Events: the page's live updates.

Each connection remembers the last event id it has seen and, every ``POLL`` seconds, reads the
newer committed rows of the ``events`` table for the operator's company. Reading the table (not
an in-process queue) is what makes it work when the API and the workers run in different
processes. The browser only learns *that* something changed (type, dialog id); it then asks
for the list and the dialog again, and the server applies the operator's visibility.

A stream outlives the request that checked the session, so every ``RECHECK`` seconds it asks
again whether the session still stands, and ends once it was signed out, expired or revoked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from atendo.core.enums import EventType
from atendo.core.events.service import events_after, last_event_id
from atendo.core.operators.sessions import session_alive
from atendo.panel.auth import PanelUser, current_user, runtime_of
from atendo.panel.i18n import translations

TYPING = EventType.TYPING.value

router = APIRouter()
POLL = 0.5
KEEPALIVE = 15.0
RECHECK = 15.0


@router.get("/live")
async def live(
    request: Request, user: Annotated[PanelUser, Depends(current_user)]
) -> StreamingResponse:
    runtime = runtime_of(request)
    tr = translations(user.language)
    typing_label = tr.gettext("%(name)s is typing…")
    client_word = tr.gettext("The client")

    def start() -> int:
        with runtime.db.reading() as session:
            return last_event_id(session, company_id=user.company_id)

    def newer(after: int) -> list[tuple[int, str, int | None, dict[str, Any]]]:
        with runtime.db.reading() as session:
            rows = events_after(session, company_id=user.company_id, after_id=after)
            # the payload only for typing: who, to show "… is typing" (nothing to re-read)
            return [
                (e.id, e.type, e.dialog_id, e.payload if e.type == TYPING else {}) for e in rows
            ]

    def alive() -> bool:
        with runtime.db.reading() as session:
            return session_alive(session, session_id=user.session_id)

    async def stream() -> AsyncIterator[str]:
        after = await asyncio.to_thread(start)
        yield "retry: 2000\n\n"
        idle = unchecked = 0.0
        while not await request.is_disconnected():
            rows = await asyncio.to_thread(newer, after)
            for event_id, kind, dialog_id, payload in rows:
                after = event_id
                if kind == TYPING:
                    if payload.get("by") == "client":
                        label = typing_label % {"name": payload.get("name") or client_word}
                        data = json.dumps({"dialog_id": dialog_id, "label": label})
                        yield f"event: typing\ndata: {data}\n\n"
                    continue
                data = json.dumps({"type": kind, "dialog_id": dialog_id})
                yield f"id: {event_id}\nevent: change\ndata: {data}\n\n"
            idle = 0.0 if rows else idle + POLL
            unchecked += POLL
            if unchecked >= RECHECK:
                unchecked = 0.0
                if not await asyncio.to_thread(alive):
                    return
            if idle >= KEEPALIVE:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
