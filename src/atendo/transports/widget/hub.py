"""One process's fan-out of committed events to the visitors connected to it.

A single task per process reads the ``events`` table (the transactional outbox every process
writes to) for the event types a visitor follows, on the widget channels that have someone
connected here, and hands each event to the connections of its client. Reading the table is
what carries an answer written by one ``atendo serve`` process (an operator's panel) to a
visitor connected to another. ``nudge()`` wakes the reader at once (a message stored or
delivered in this process), so a reply does not wait for the next tick.

Typing indicators are not domain events: they pass through :meth:`Hub.typing` between the
connections of this process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from atendo.core.clients.models import ClientIdentity
from atendo.core.events.models import Event
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.widget.visitors import FOLLOWED, IDENTITY

log = logging.getLogger("atendo.widget")
TICK = 0.25
LOOKBACK = 200
READ_EVERY = 8  # rounds between read-mark checks


@dataclass(frozen=True)
class Note:
    """One followed event, as the hub hands it to a connection."""

    id: int
    type: str
    channel_id: int
    client_id: int
    payload: dict[str, Any]


@dataclass(eq=False)
class Subscription:
    channel_id: int
    client_id: int | None
    visitor_id: str = ""
    queue: asyncio.Queue[Note | dict[str, Any]] = field(default_factory=asyncio.Queue)
    unread: set[int] = field(default_factory=set)  # the visitor's messages not read yet


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.subs: set[Subscription] = set()
        self.cursor = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: dict[int, None] = {}
        self._rounds = 0

    # --- connections ---------------------------------------------------------------------

    async def subscribe(
        self, channel_id: int, client_id: int | None, visitor_id: str = ""
    ) -> Subscription:
        await self._ensure_running()
        sub = Subscription(channel_id, client_id, visitor_id)
        self.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)

    def typing(self, *, channel_id: int, client_id: int, frame: dict[str, Any]) -> None:
        """A typing indicator for the connections of one visitor (this process only)."""
        for sub in list(self.subs):
            if sub.channel_id == channel_id and sub.client_id == client_id:
                sub.queue.put_nowait(frame)

    def nudge(self) -> None:
        """Read the events table now (thread-safe: workers call it from their threads)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._wake.set)

    # --- the reader ----------------------------------------------------------------------

    async def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self.cursor = await asyncio.to_thread(self._last_id)
        self._seen = {}
        self._task = loop.create_task(self._run())

    def _last_id(self) -> int:
        with self.runtime.db.reading() as session:
            return int(session.scalar(select(func.max(Event.id))) or 0)

    def _read(self, after: int, channels: list[int]) -> list[Event]:
        with self.runtime.db.reading() as session:
            stmt = (
                select(Event)
                .where(Event.id > after, Event.type.in_(FOLLOWED), Event.channel_id.in_(channels))
                .order_by(Event.id)
                .limit(1000)
            )
            rows = list(session.scalars(stmt))
            session.expunge_all()
            return rows

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("widget hub round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)
            self._wake.clear()

    async def _round(self) -> None:
        channels = sorted({s.channel_id for s in self.subs})
        if not channels:
            self.cursor = await asyncio.to_thread(self._last_id)
            return
        # Ids are taken before commit: a transaction that commits late shows an id below ones
        # already read. Re-reading a window behind the cursor (seen ids skipped) catches it.
        rows = await asyncio.to_thread(self._read, max(0, self.cursor - LOOKBACK), channels)
        for event in rows:
            self.cursor = max(self.cursor, event.id)
            if event.id in self._seen:
                continue
            self._seen[event.id] = None
            if len(self._seen) > 4 * LOOKBACK:
                for old in list(self._seen)[: len(self._seen) - 2 * LOOKBACK]:
                    del self._seen[old]
            payload = event.payload or {}
            client_id = payload.get("client_id")
            if not isinstance(client_id, int) or event.channel_id is None:
                continue
            await self._learn_client(event, client_id)
            note = Note(event.id, event.type, event.channel_id, client_id, payload)
            for sub in list(self.subs):
                if sub.channel_id == event.channel_id and sub.client_id == client_id:
                    sub.queue.put_nowait(note)
        self._rounds += 1
        if self._rounds % READ_EVERY == 0:
            await self._read_marks()

    def _visitor_of(self, client_id: int) -> str:
        with self.runtime.db.reading() as session:
            address = session.scalar(
                select(ClientIdentity.address).where(
                    ClientIdentity.client_id == client_id, ClientIdentity.transport == IDENTITY
                )
            )
            return address or ""

    async def _learn_client(self, event: Event, client_id: int) -> None:
        """A new client on a channel where anonymous visitors wait: the one whose first message
        it is (written from another tab, or another process) learns its client id."""
        waiting = [s for s in self.subs if s.client_id is None and s.channel_id == event.channel_id]
        if not waiting or not (event.payload or {}).get("is_new_client"):
            return
        visitor_id = await asyncio.to_thread(self._visitor_of, client_id)
        for sub in waiting:
            if visitor_id and sub.visitor_id == visitor_id:
                sub.client_id = client_id

    def _read_ids(self, ids: list[int]) -> list[int]:
        with self.runtime.db.reading() as session:
            return list(
                session.scalars(select(Message.id).where(Message.id.in_(ids), Message.read))
            )

    async def _read_marks(self) -> None:
        """One query for every connected visitor's unread messages; "read" marks to each."""
        wanted = sorted({i for s in self.subs for i in s.unread})[:5000]
        if not wanted:
            return
        read = set(await asyncio.to_thread(self._read_ids, wanted))
        if not read:
            return
        for sub in list(self.subs):
            done = sub.unread & read
            if done:
                sub.unread -= done
                sub.queue.put_nowait({"t": "read", "ids": sorted(done)})


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
