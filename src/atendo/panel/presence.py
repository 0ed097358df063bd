"""One process's fan-out of presence on chats ("Ana está vendo" / "está digitando") to the
panel's live streams.

Each live stream (``atendo.panel.live``) registers a :class:`Watcher` for its operator. A
single task per process reads the fresh presence rows of the companies watched here (one
query) and hands each watcher, for every chat its operator is on, the others on that chat
whenever that list changed since it last got it. It reads when a presence change is
committed in any process (``core.team.presence.TOPIC`` through :mod:`atendo.kit.wake`:
LISTEN/NOTIFY across ``atendo serve`` processes on PostgreSQL, in-process after commit on
SQLite), when a stream starts, and when the oldest row would expire (a browser that vanished
without saying goodbye stops being shown); never on a timer of its own otherwise.

Only an operator who is on the chat (whose panel said so, which it may only for a chat they
may see) and who may still see it gets anything: supervisors every chat, an operator theirs
and the unassigned ones (not those when marked "new chats unavailable"), like
``panel.views.visible_dialog``; and only within their company. One who can no longer see it
(the chat went to someone else) gets the empty list once, and nothing after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from atendo.core.team.presence import (
    TOPIC,
    Presence,
    Seen,
    forget_stale,
    fresh_for,
    fresh_rows,
    in_order,
)
from atendo.kit.clock import utcnow
from atendo.kit.wake import WakeListener
from atendo.panel.auth import PanelUser
from atendo.runtime import Runtime

log = logging.getLogger("atendo.panel.presence")

EXPIRY_GAP = 1.0  # at least this many seconds between two reads that only look for expiries
RETRY = 5.0  # after a failed read
SWEEP = 60.0  # seconds between two deletions of rows nobody refreshes any more

# A dialog id, and the others on it now; None: the stream's operator is no longer on it (a
# tab of theirs left it, or their row expired), which a tab still showing the chat answers by
# saying it is there.
Shown = tuple[int, list[Presence] | None]
Key = tuple[tuple[int, str, str], ...]


def may_see(user: PanelUser, assignee_id: int | None) -> bool:
    if user.sees_all_dialogs or assignee_id == user.id:
        return True
    return assignee_id is None and not user.new_chats_unavailable


@dataclass(eq=False)
class Watcher:
    """One live stream: what it was last given per chat, and its queue (in its own loop)."""

    user: PanelUser
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Shown] = field(default_factory=asyncio.Queue)
    sent: dict[int, Key] = field(default_factory=dict)

    def give(self, shown: Shown) -> None:
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.queue.put_nowait, shown)


class PresenceHub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.fresh = fresh_for(runtime.settings.panel_presence_keepalive)
        self.watchers: set[Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._listener: WakeListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._swept_at = 0.0

    async def watch(self, user: PanelUser) -> Watcher:
        """A stream starts: it gets what is true now at the next read (right away)."""
        self._ensure_running()
        watcher = Watcher(user, asyncio.get_running_loop())
        self.watchers.add(watcher)
        self.nudge()
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    def nudge(self) -> None:
        """Read now (thread-safe)."""
        if self._listener is not None:
            self._listener.poke()

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._listener = WakeListener(self.runtime.db.url, topic=TOPIC)
        self._task = loop.create_task(self._run(self._listener), name="atendo:panel-presence")

    async def _run(self, listener: WakeListener) -> None:
        async with listener:
            while True:
                listener.event.clear()
                wait: float | None
                try:
                    wait = await self._round()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("presence round failed")
                    wait = RETRY
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener.event.wait(), wait)

    def _read(self, companies: set[int]) -> list[Seen]:
        now = utcnow()
        if time.monotonic() - self._swept_at >= SWEEP:
            self._swept_at = time.monotonic()
            with self.runtime.db.transaction() as session:
                forget_stale(session, company_ids=companies, before=now - self.fresh)
        with self.runtime.db.reading() as session:
            return fresh_rows(session, company_ids=companies, since=now - self.fresh)

    async def _round(self) -> float | None:
        """Hand out what changed; the seconds until the oldest row expires (None: no row)."""
        watchers = list(self.watchers)
        if not watchers:
            return None
        rows = await asyncio.to_thread(self._read, {w.user.company_id for w in watchers})
        on: dict[tuple[int, int], list[Seen]] = {}
        for row in rows:
            on.setdefault((row.company_id, row.dialog_id), []).append(row)
        for watcher in watchers:
            self._hand_out(watcher, rows, on)
        if not rows:
            return None
        earliest = min(row.seen_at for row in rows) + self.fresh
        return max((earliest - utcnow()).total_seconds() + 0.05, EXPIRY_GAP)

    @staticmethod
    def _hand_out(
        watcher: Watcher, rows: list[Seen], on: dict[tuple[int, int], list[Seen]]
    ) -> None:
        user = watcher.user
        mine = {
            row.dialog_id
            for row in rows
            if row.company_id == user.company_id and row.operator_id == user.id
        }
        for dialog_id in sorted(mine):
            here = on[(user.company_id, dialog_id)]
            others = in_order(
                [Presence(r.operator_id, r.name, r.state) for r in here if r.operator_id != user.id]
            )
            if not may_see(user, here[0].assignee_id):
                if not watcher.sent.get(dialog_id):
                    continue  # nothing of it, not even that it is empty
                others = []  # no longer theirs: what they were shown goes
            key = tuple((p.operator_id, p.name, p.state) for p in others)
            if watcher.sent.get(dialog_id) != key:
                watcher.sent[dialog_id] = key
                watcher.give((dialog_id, others))
        for dialog_id in list(watcher.sent):
            if dialog_id not in mine:
                del watcher.sent[dialog_id]
                watcher.give((dialog_id, None))


_hubs: dict[int, PresenceHub] = {}


def hub_for(runtime: Runtime) -> PresenceHub:
    found = _hubs.get(id(runtime))
    if found is None or found.runtime is not runtime:
        found = _hubs[id(runtime)] = PresenceHub(runtime)
    return found
