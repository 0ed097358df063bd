"""Server-Sent Events: the page's live updates.

Each connection remembers the last event id it has seen and, every ``POLL`` seconds, reads the
newer committed rows of the ``events`` table for the operator's company. Reading the table (not
an in-process queue) is what makes it work when the API and the workers run in different
processes. The browser only learns *that* something changed (type, dialog id); it then asks
for the list and the dialog again, and the server applies the operator's visibility.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from atendo.core.events.service import events_after, last_event_id
from atendo.panel.auth import PanelUser, current_user, runtime_of

router = APIRouter()
POLL = 0.5
KEEPALIVE = 15.0


@router.get("/live")
async def live(
    request: Request, user: Annotated[PanelUser, Depends(current_user)]
) -> StreamingResponse:
    runtime = runtime_of(request)

    def start() -> int:
        with runtime.db.reading() as session:
            return last_event_id(session, company_id=user.company_id)

    def newer(after: int) -> list[tuple[int, str, int | None]]:
        with runtime.db.reading() as session:
            rows = events_after(session, company_id=user.company_id, after_id=after)
            return [(e.id, e.type, e.dialog_id) for e in rows]

    async def stream() -> AsyncIterator[str]:
        after = await asyncio.to_thread(start)
        yield "retry: 2000\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            rows = await asyncio.to_thread(newer, after)
            for event_id, kind, dialog_id in rows:
                after = event_id
                data = json.dumps({"type": kind, "dialog_id": dialog_id})
                yield f"id: {event_id}\nevent: change\ndata: {data}\n\n"
            if rows:
                idle = 0.0
            else:
                idle += POLL
                if idle >= KEEPALIVE:
                    idle = 0.0
                    yield ": keep-alive\n\n"
            await asyncio.sleep(POLL)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
