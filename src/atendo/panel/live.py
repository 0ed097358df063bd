"""Server-Sent Events: the page's live updates.

Each connection keeps a :class:`atendo.core.events.service.EventCursor` (the last event id it
has read and, on PostgreSQL, the ids read just behind it: an id is taken before commit, so a
transaction that commits late shows an id below ones already read, and the cursor looks back for
those) and reads the committed rows not read yet of the ``events`` table for the operator's
company when one is committed: writing an event notifies ``core.events.service.TOPIC`` with its
company id (:mod:`atendo.kit.wake`: LISTEN/NOTIFY on PostgreSQL, across processes; in-process
after commit on SQLite), and this process's one :class:`atendo.kit.wake.Fanout` of that topic
(one listening connection per process, however many streams) wakes the streams of that company.
Without a wake-up a stream reads anyway every ``panel_live_fallback`` seconds
(``ATENDO_PANEL_LIVE_FALLBACK``: a notify missed while the listener reconnected; the listener
also wakes every stream when it listens again). The wake-up is cleared before each read, so an
event committed during the read wakes the next one. Reading the table (not an in-process queue)
is what makes it work when the API and the workers run in different processes. The browser only
learns *that* something changed (type, dialog id); it then asks for the list and the dialog
again, and the server applies the operator's visibility. Events of dialogs the operator may not
open are not sent at all (not even their type and id). Each event also carries what is this
operator's own (``notices``): a notification for them, their status when it changed, and their
unread count.

Presence on a chat (who else is viewing or typing) is not in the events table: the process's
presence hub (``atendo.panel.presence``) pushes it here as soon as it changes, in any process,
and the stream passes it on between its reads (``event: presence``, with the words in the
operator's language).

A stream outlives the request that checked the session, so every ``RECHECK`` seconds it asks
again whether the session still stands, and ends once it was signed out, expired or revoked;
it sends a comment after ``KEEPALIVE`` seconds without news, and looks every ``TICK`` seconds
whether the browser went away (neither reads the events table).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.dialogs.models import Dialog
from atendo.core.enums import EventType
from atendo.core.events.models import Event
from atendo.core.events.service import LOOKBACK, TOPIC, EventCursor
from atendo.core.operators.sessions import session_alive
from atendo.kit.wake import Waiter, fanout
from atendo.panel.auth import PanelUser, current_user, runtime_of
from atendo.panel.i18n import translations
from atendo.panel.notices import notice_for, unread_total
from atendo.panel.presence import Shown, hub_for

TYPING = EventType.TYPING.value

router = APIRouter()
TICK = 1.0
BATCH = 100  # events read at once (a full batch: read again at once)
KEEPALIVE = 15.0
RECHECK = 15.0


def visible_events(session: Session, user: PanelUser, events: Sequence[Event]) -> list[Event]:
    """The events of dialogs this operator may open (and those of no dialog)."""
    if user.sees_all_dialogs:
        return list(events)
    ids = {e.dialog_id for e in events if e.dialog_id is not None}
    owners: dict[int, int | None] = {}
    if ids:
        found = session.execute(
            select(Dialog.id, Dialog.operator_id).where(
                Dialog.company_id == user.company_id, Dialog.id.in_(ids)
            )
        )
        owners = {dialog_id: operator_id for dialog_id, operator_id in found}
    return [
        e
        for e in events
        if e.dialog_id is None or (e.dialog_id in owners and owners[e.dialog_id] in (None, user.id))
    ]


@router.get("/live")
async def live(
    request: Request, user: Annotated[PanelUser, Depends(current_user)]
) -> StreamingResponse:
    runtime = runtime_of(request)
    tr = translations(user.language)
    typing_label = tr.gettext("%(name)s is typing…")
    viewing_label = tr.gettext("%(name)s is viewing")
    client_word = tr.gettext("The client")
    hub = hub_for(runtime)

    def presence(shown: Shown) -> str:
        dialog_id, others = shown
        labels = {"typing": typing_label, "viewing": viewing_label}
        data: dict[str, Any] = {"dialog_id": dialog_id}
        if others is None:  # this operator is no longer on it (another tab of theirs left)
            data["gone"] = True
        else:
            data["others"] = [
                {"state": p.state, "label": labels[p.state] % {"name": p.name}} for p in others
            ]
        return f"event: presence\ndata: {json.dumps(data)}\n\n"

    def start() -> EventCursor:
        lookback = LOOKBACK if runtime.db.is_postgres else 0
        with runtime.db.reading() as session:
            return EventCursor.at_end(session, company_id=user.company_id, lookback=lookback)

    def newer(
        cursor: EventCursor,
    ) -> tuple[bool, list[tuple[int, str, dict[str, Any], dict[str, Any]]]]:
        """Whether there may be more, and the events not read yet that this operator may see
        (with their notices); the cursor moves past them."""
        with runtime.db.reading() as session:
            rows = cursor.read(session, company_id=user.company_id, limit=BATCH)
            out: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
            for e in visible_events(session, user, rows):
                payload = e.payload or {}
                if e.type == TYPING:  # who, to show "… is typing" (nothing to re-read)
                    out.append((e.id, e.type, {"dialog_id": e.dialog_id}, payload))
                    continue
                data: dict[str, Any] = {"type": e.type, "dialog_id": e.dialog_id}
                notice = notice_for(session, user, e) if user.notifications else None
                if notice is not None:
                    data["notify"] = asdict(notice)
                if e.type == EventType.OPERATOR_STATUS and payload.get("operator_id") == user.id:
                    data["my_status"] = payload.get("status")
                out.append((e.id, e.type, data, {}))
            changes = [o for o in out if o[1] != TYPING]
            if changes:
                changes[-1][2]["unread"] = unread_total(session, user)
            return len(rows) == BATCH, out

    def alive() -> bool:
        with runtime.db.reading() as session:
            return session_alive(session, company_id=user.company_id, session_id=user.session_id)

    async def stream() -> AsyncIterator[str]:
        watcher = await hub.watch(user)
        events = fanout(runtime.db.url, TOPIC)
        wake = events.watch(str(user.company_id))  # before the first read: nothing slips by
        try:
            cursor = await asyncio.to_thread(start)
            async for chunk in changes(cursor, watcher.queue, wake):
                yield chunk
        finally:
            events.unwatch(wake)
            hub.unwatch(watcher)

    async def changes(
        cursor: EventCursor, pushed: asyncio.Queue[Shown], wake: Waiter
    ) -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        fallback = runtime.settings.panel_live_fallback
        read_at = news_at = checked_at = loop.time()
        while not await request.is_disconnected():
            if wake.event.is_set() or loop.time() >= read_at:
                wake.event.clear()  # before reading: what commits meanwhile wakes the next read
                more, rows = await asyncio.to_thread(newer, cursor)
                read_at = loop.time() + (0 if more else fallback)
                for event_id, kind, fields, payload in rows:
                    if kind == TYPING:
                        if payload.get("by") == "client":
                            label = typing_label % {"name": payload.get("name") or client_word}
                            data = json.dumps({"dialog_id": fields["dialog_id"], "label": label})
                            yield f"event: typing\ndata: {data}\n\n"
                        continue
                    data = json.dumps(fields)
                    yield f"id: {event_id}\nevent: change\ndata: {data}\n\n"
                if rows:
                    news_at = loop.time()
            if loop.time() - checked_at >= RECHECK:
                checked_at = loop.time()
                if not await asyncio.to_thread(alive):
                    return
            if loop.time() - news_at >= KEEPALIVE:
                news_at = loop.time()
                yield ": keep-alive\n\n"
            # Presence as it comes, until a wake-up, the fallback read or the next tick.
            until = min(loop.time() + TICK, read_at)
            while not wake.event.is_set() and (left := until - loop.time()) > 0:
                shown = await _pushed_or_woken(pushed, wake, left)
                if shown is not None:
                    yield presence(shown)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _pushed_or_woken(
    pushed: asyncio.Queue[Shown], wake: Waiter, seconds: float
) -> Shown | None:
    """The next presence pushed, or None once woken or after ``seconds``."""
    got = asyncio.ensure_future(pushed.get())
    woken = asyncio.ensure_future(wake.event.wait())
    try:
        await asyncio.wait((got, woken), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        woken.cancel()
        if not got.done():
            got.cancel()  # the queue keeps what this getter did not take
    return got.result() if got.done() and not got.cancelled() else None
