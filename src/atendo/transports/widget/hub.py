"""One process's fan-out of committed events to the visitors connected to it.

A single task per process reads the ``events`` table (the transactional outbox every process
writes to) for the event types a visitor follows, on the widget channels that have someone
connected here, and hands each event to the connections of its client. Reading the table is
what carries an answer written by one ``atendo serve`` process (an operator's panel) to a
visitor connected to another.

The reader wakes when something a visitor follows is committed, in any process:
:func:`changed` (called in the writing transaction) notifies the topic ``atendo_widget``
through :mod:`atendo.kit.wake` (PostgreSQL LISTEN/NOTIFY across processes; in-process after
commit on SQLite). Without a wake-up it still reads every ``widget_hub_tick`` seconds (events
written by code that does not notify: an operator's transfer in the panel).

Typing indicators of the operator are ``typing`` events like the rest; the read marks of the
visitors' messages are checked every ``READ_EVERY`` seconds in one query for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.clients.models import ClientIdentity
from atendo.core.events.models import Event
from atendo.core.events.service import LOOKBACK, ReadWindow
from atendo.core.messages.models import Message
from atendo.kit.db import get_scoped
from atendo.kit.wake import WakeListener, notify
from atendo.runtime import Runtime
from atendo.transports.widget import threads
from atendo.transports.widget.threads import Lane
from atendo.transports.widget.visitors import FOLLOWED, IDENTITY, messages_out, shown_messages

log = logging.getLogger("atendo.widget")
TOPIC = "atendo_widget"
ROUND_LIMIT = 2000  # events read in one round at most (the next round follows at once)
READ_EVERY = 1.0  # seconds between read-mark checks


def changed(session: Session) -> None:
    """Something a visitor follows changes in this transaction: every process's hub reads
    the events once it commits."""
    notify(session, TOPIC)


@dataclass(frozen=True)
class Note:
    """One followed event, as the hub hands it to a connection."""

    id: int
    type: str
    channel_id: int
    client_id: int
    payload: dict[str, Any]
    # The event's message as the widget shows it, read once for every connection (None: no
    # message, or one the visitor does not see), and its (channel id, client id).
    item: dict[str, Any] | None = None
    owner: tuple[int, int | None] = (0, None)


@dataclass
class Round:
    """What one round of the reader read (:meth:`Hub._read`)."""

    events: list[tuple[int, int, str, int, dict[str, Any]]] = field(default_factory=list)
    visitors: dict[int, str] = field(default_factory=dict)  # new client id → visitor id
    items: dict[int, tuple[tuple[int, int | None], dict[str, Any]]] = field(default_factory=dict)
    read: set[int] = field(default_factory=set)  # of the unread messages asked about


Key = tuple[int, int | None]  # (channel id, client id: None while the visitor is anonymous)


@dataclass(eq=False)
class Subscription:
    channel_id: int
    client_id: int | None
    visitor_id: str = ""
    queue: asyncio.Queue[Note | dict[str, Any]] = field(default_factory=asyncio.Queue)
    unread: set[int] = field(default_factory=set)  # the visitor's messages not read yet

    @property
    def key(self) -> Key:
        return (self.channel_id, self.client_id)


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.subs: dict[Key, set[Subscription]] = {}
        # the anonymous ones again by (channel id, visitor id): a new client finds its own
        # without a pass over every visitor waiting on the channel
        self.anonymous: dict[tuple[int, str], set[Subscription]] = {}
        self.channels: dict[int, int] = {}  # channel id → connections here
        # what it has read: on PostgreSQL the ids read within a window behind the newest are
        # kept, and a late commit there is read once (core.events.service.ReadWindow)
        self.lookback = LOOKBACK if runtime.db.is_postgres else 0
        self.window = ReadWindow(0, self.lookback)
        self.tick = runtime.settings.widget_hub_tick
        threads.setup(runtime.db.is_postgres)
        self._lane = Lane("atendo-widget-hub")  # its reads, never behind visitors' writes
        self._task: asyncio.Task[None] | None = None
        self._listener: WakeListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Future[None] | None = None
        self._marks_at = 0.0
        self._more = False  # the last round stopped at ROUND_LIMIT: read again at once
        self._public_ids: dict[int, str] = {}  # a channel's public id never changes

    # --- connections ---------------------------------------------------------------------

    async def subscribe(
        self, channel_id: int, client_id: int | None, visitor_id: str = ""
    ) -> Subscription:
        await self._ensure_running()
        sub = Subscription(channel_id, client_id, visitor_id)
        self.subs.setdefault(sub.key, set()).add(sub)
        if client_id is None:
            self.anonymous.setdefault((channel_id, visitor_id), set()).add(sub)
        self.channels[channel_id] = self.channels.get(channel_id, 0) + 1
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        found = self.subs.get(sub.key)
        if found is None or sub not in found:
            return
        found.discard(sub)
        if not found:
            del self.subs[sub.key]
        self._named(sub)
        left = self.channels.get(sub.channel_id, 0) - 1
        if left > 0:
            self.channels[sub.channel_id] = left
        else:
            self.channels.pop(sub.channel_id, None)

    def set_client(self, sub: Subscription, client_id: int) -> None:
        """An anonymous visitor's first message made them a client."""
        if sub.client_id == client_id:
            return
        self._named(sub)
        found = self.subs.get(sub.key)
        if found is not None and sub in found:
            found.discard(sub)
            if not found:
                del self.subs[sub.key]
            sub.client_id = client_id
            self.subs.setdefault(sub.key, set()).add(sub)
        else:
            sub.client_id = client_id

    def _named(self, sub: Subscription) -> None:
        """``sub`` leaves the anonymous index (it left, or it knows its client now)."""
        key = (sub.channel_id, sub.visitor_id)
        found = self.anonymous.get(key)
        if found is not None:
            found.discard(sub)
            if not found:
                del self.anonymous[key]

    def connections(self, channel_id: int, client_id: int | None) -> list[Subscription]:
        return list(self.subs.get((channel_id, client_id), ()))

    def typing(self, *, channel_id: int, client_id: int, frame: dict[str, Any]) -> None:
        """A typing indicator for the connections of one visitor (this process only)."""
        for sub in self.connections(channel_id, client_id):
            sub.queue.put_nowait(frame)

    def nudge(self) -> None:
        """Read the events table now (thread-safe: workers call it from their threads)."""
        if self._listener is not None:
            self._listener.poke()

    # --- the reader ----------------------------------------------------------------------

    async def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        if self._starting is not None and self._loop is loop:
            await asyncio.shield(self._starting)  # another connection is starting the reader
            return
        self._loop = loop
        self._starting = starting = loop.create_future()
        try:
            self.window = ReadWindow(await self._lane.run(self._last_id), self.lookback)
            self._listener = WakeListener(self.runtime.db.url, topic=TOPIC)
            self._task = loop.create_task(self._run(self._listener), name="atendo:widget-hub")
        finally:
            self._starting = None
            starting.set_result(None)

    def _last_id(self) -> int:
        with self.runtime.db.reading() as session:
            return int(session.scalar(select(func.max(Event.id))) or 0)

    def _read(
        self, not_read: list[ColumnElement[bool]], channels: list[int], unread: list[int]
    ) -> Round:
        """One round's reads, in one session: the followed events on these channels that this
        hub has not handed out yet (``not_read``: its window's condition, so the database
        skips what was read), the visitor ids of the clients they created, the messages they
        name as the widget shows them, and which of ``unread`` are read now."""
        out = Round()
        with self.runtime.db.reading() as session:
            rows = session.execute(
                select(Event.id, Event.company_id, Event.type, Event.channel_id, Event.payload)
                .where(*not_read, Event.type.in_(FOLLOWED), Event.channel_id.in_(channels))
                .order_by(Event.id)
                .limit(ROUND_LIMIT)
            )
            out.events = [(r[0], r[1], r[2], r[3], r[4] or {}) for r in rows]
            new_clients: dict[int, list[int]] = {}
            messages: dict[int, list[int]] = {}
            for _e, company_id, _t, _ch, payload in out.events:
                if payload.get("is_new_client") and isinstance(payload.get("client_id"), int):
                    new_clients.setdefault(company_id, []).append(payload["client_id"])
                if isinstance(payload.get("message_id"), int):
                    messages.setdefault(company_id, []).append(payload["message_id"])
            for company_id, client_ids in new_clients.items():
                out.visitors.update(self._visitors_of(session, company_id, client_ids))
            if messages:
                out.items = self._items(session, messages)
            if unread:
                out.read = set(
                    session.scalars(select(Message.id).where(Message.id.in_(unread), Message.read))
                )
        return out

    async def _run(self, listener: WakeListener) -> None:
        try:
            async with listener:
                while True:
                    listener.event.clear()
                    try:
                        await self._round()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("widget hub round failed")
                    if self._more:
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(listener.event.wait(), self.tick)
        finally:
            self._lane.close()

    async def _round(self) -> None:
        """Read (one call in a thread, one session), then hand out on the event loop: the
        connections an event goes to are looked up after the read, so a connection that
        subscribed meanwhile is not passed over (it caught up from the database after it
        subscribed; what it saw twice, it shows once)."""
        channels = sorted(self.channels)
        if not channels:
            self.window.last = await self._lane.run(self._last_id)
            return
        now = time.monotonic()
        marks = now - self._marks_at >= READ_EVERY
        unread_subs = (
            [sub for group in self.subs.values() for sub in group if sub.unread] if marks else []
        )
        unread = sorted({i for s in unread_subs for i in s.unread})[:5000]
        if marks:
            self._marks_at = now
        found = await self._lane.run(self._read, self.window.unread(), channels, unread)
        self.window.passed([event[0] for event in found.events])
        self._more = len(found.events) == ROUND_LIMIT
        for event_id, _company_id, type_, channel_id, payload in found.events:
            client_id = payload.get("client_id")
            if not isinstance(client_id, int) or channel_id is None:
                continue
            if payload.get("is_new_client"):
                self._learn_client(channel_id, client_id, found.visitors.get(client_id, ""))
            subs = self.connections(channel_id, client_id)
            if not subs:
                continue
            owner, item = found.items.get(payload.get("message_id") or 0, ((0, None), None))
            note = Note(event_id, type_, channel_id, client_id, payload, item, owner)
            for sub in subs:
                sub.queue.put_nowait(note)
        if found.read:
            for sub in unread_subs:
                done = sub.unread & found.read
                if done:
                    sub.unread -= done
                    sub.queue.put_nowait({"t": "read", "ids": sorted(done)})

    def _items(
        self, session: Session, wanted: dict[int, list[int]]
    ) -> dict[int, tuple[tuple[int, int | None], dict[str, Any]]]:
        """The messages of a round's events as the widget shows them, by id, with their
        (channel id, client id): one read for all the connections they go to."""
        out: dict[int, tuple[tuple[int, int | None], dict[str, Any]]] = {}
        for company_id, ids in wanted.items():
            by_channel: dict[int, list[Message]] = {}
            for m in shown_messages(session, company_id=company_id, ids=ids):
                by_channel.setdefault(m.channel_id, []).append(m)
            for channel_id, messages in by_channel.items():
                public_id = self._public_id(session, company_id, channel_id)
                shown = messages_out(session, messages, public_id=public_id)
                for m, item in zip(messages, shown, strict=True):
                    out[m.id] = ((channel_id, m.client_id), item)
        return out

    def _public_id(self, session: Session, company_id: int, channel_id: int) -> str:
        found = self._public_ids.get(channel_id)
        if found is None:
            channel = get_scoped(session, Channel, channel_id, company_id=company_id)
            found = str(((channel.settings if channel else None) or {}).get("public_id", ""))
            self._public_ids[channel_id] = found
        return found

    def _visitors_of(
        self, session: Session, company_id: int, client_ids: list[int]
    ) -> dict[int, str]:
        """The visitor id of each of these clients (one query)."""
        rows = session.execute(
            select(ClientIdentity.client_id, ClientIdentity.address).where(
                ClientIdentity.company_id == company_id,
                ClientIdentity.client_id.in_(sorted(set(client_ids))),
                ClientIdentity.transport == IDENTITY,
            )
        )
        return {client_id: address for client_id, address in rows}

    def _learn_client(self, channel_id: int, client_id: int, visitor_id: str) -> None:
        """A new client on a channel where anonymous visitors wait: the one whose first message
        it is (written from another tab, or another process) learns its client id."""
        if not visitor_id:
            return
        for sub in list(self.anonymous.get((channel_id, visitor_id), ())):
            self.set_client(sub, client_id)


_hubs: dict[int, Hub] = {}


def hub_for(runtime: Runtime) -> Hub:
    found = _hubs.get(id(runtime))
    if found is None or found.runtime is not runtime:
        found = _hubs[id(runtime)] = Hub(runtime)
    return found


def nudge_all() -> None:
    for hub in list(_hubs.values()):
        hub.nudge()


Waker = Callable[[], None]
