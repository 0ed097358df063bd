"""The channel sessions of the workers: one asyncio task per channel this worker holds, for
every transport whose channels keep a session (the seam's ``holds_sessions``; e-mail: the IMAP
sync of a mailbox, reached only through ``Transport.run_session``), supervised.

The supervisor (:class:`MailboxSupervisor`) scans the active e-mail channels every
``SCAN_INTERVAL`` seconds, and at once when a channel is created, reconnected or deleted
(:mod:`atendo.kit.wake`: in-process on SQLite, LISTEN/NOTIFY on PostgreSQL). It starts a task
for a channel it newly holds, cancels the task of a deleted/disabled one, and restarts the
task of a channel whose ``reconnect_requested`` flag is set (admin "reconnect", changed
settings).

Each channel task runs its transport's ``run_session`` (e-mail:
:mod:`atendo.transports.email.sessions`) in a loop. On a
failure it records the reason in plain words (``mark_failure``: ``connecting`` while retrying,
``error`` after a few failures in a row) and retries after an exponential backoff capped at
``BACKOFF_MAX``; a successful sync marks it ``connected`` with ``last_sync``. A failing
mailbox only ever sleeps in its own task: the others never notice. Connections are opened
with jitter and at most ``worker_connect_concurrency`` at once, and a retry is spread over a
window that grows with the mailboxes held (:func:`retry_delay`), so a start or a mail-server
restart does not become a storm.

On PostgreSQL several worker processes share the mailboxes through leases
(:mod:`atendo.core.leases.service`): a worker holds at most its fair share
(``ceil(channels / live workers)``) and releases the extra when another joins; every lease is
renewed in one UPDATE every quarter of its length, and a lease the renewal does not return
cancels its mailbox task at once. The fencing token is checked in the transaction that
advances the folder's last UID, so a worker that lost its lease cannot commit. SQLite means
one process: every channel is held, without leases.

One session per mailbox at any time: a mailbox's session is closed (its task has ended, its
socket is closed) before its lease is given up — explicitly (released) or by letting it expire.
So the leases are renewed until every session is closed, also while the worker stops; the
session of a lost lease is stopped beside the renewals, never in their way (a renewal waiting
for a slow LOGOUT would let every other lease expire); and a mailbox whose session is still
stopping is not taken again. A cancelled session that is still running is cancelled again
(:func:`stop_sessions`): aioimaplib runs every command under ``asyncio.wait_for``, which on
Python 3.11 swallows a ``cancel()`` that arrives together with the server's answer, and the
session would go on holding the mailbox after the worker let it go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

import atendo.core.models  # noqa: F401 - every mapper, so relationships resolve in a bare worker
from atendo.core.channels.models import Channel
from atendo.core.channels.service import mark_connected, mark_failure
from atendo.core.leases.service import (
    LeaseView,
    fair_share,
    holds_lease,
    lease_views,
    live_workers,
    release_leases,
    renew_leases,
    take_leases,
)
from atendo.kit.clock import utcnow
from atendo.kit.wake import WakeListener
from atendo.runtime import Runtime
from atendo.transports import registry as transports
from atendo.transports.base import SessionEnded, SessionHooks, Transport
from atendo.workers.heartbeat import lease_times
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.workers.mailbox_sync")

T = TypeVar("T")

# Tunables (module-level so tests can shorten them; the environment can too).
SCAN_INTERVAL = float(os.environ.get("ATENDO_MAILBOX_SCAN_INTERVAL", "2"))
BACKOFF_START = float(os.environ.get("ATENDO_MAILBOX_BACKOFF_START", "2"))
BACKOFF_MAX = float(os.environ.get("ATENDO_MAILBOX_BACKOFF_MAX", "300"))
# The first connections of a batch of newly held mailboxes are spread over up to this many
# seconds (a few milliseconds per mailbox: 1,000 mailboxes over 5 s).
JITTER_MAX = float(os.environ.get("ATENDO_MAILBOX_JITTER_MAX", "5"))
JITTER_PER_MAILBOX = 0.005
# While connected, ``last_sync`` is refreshed at most this often (seconds).
LAST_SYNC_EVERY = 300.0
# A stopped session still running after this long is cancelled again (see stop_sessions).
RECANCEL_EVERY = 1.0


def retry_delay(delay: float, window: float, rng: random.Random | None = None) -> float:
    """Seconds before a failed session starts again: its backoff ``delay`` (±20 %) plus a
    share of ``window`` drawn at random. A mail-server restart fails every session of the
    worker in the same instant; ``window`` (a few milliseconds per session the worker holds,
    as for the first connections) keeps their retries from coming back all together."""
    uniform = rng.uniform if rng is not None else random.uniform
    return delay * uniform(0.8, 1.2) + uniform(0, max(window, 0.0))


def spread_window(sessions: int) -> float:
    """The window new connections of ``sessions`` mailboxes are spread over (seconds)."""
    return min(JITTER_MAX, JITTER_PER_MAILBOX * sessions)


async def stop_sessions(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again each
    ``RECANCEL_EVERY`` seconds the ones still running: a ``cancel()`` swallowed by
    ``asyncio.wait_for`` (Python 3.11) must not leave a session open."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: it was logged where it happened


def _record(runtime: Runtime, channel_id: int, reason: str | None) -> None:
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.deleted:
            return
        if reason is None:
            mark_connected(session, channel=channel)
        else:
            mark_failure(session, channel=channel, reason=reason)


async def run_channel(
    runtime: Runtime,
    transport: Transport,
    channel_id: int,
    *,
    token: int | None = None,
    gate: asyncio.Semaphore | None = None,
    jitter: float = 0.0,
    window: Callable[[], float] | None = None,
) -> None:
    """Run one channel's session until cancelled: start it again with exponential backoff
    on every failure.

    ``token``: the lease's fencing token (None: no lease, SQLite); the task ends when a commit
    finds the lease lost (:class:`SessionEnded`). ``window``: the seconds a retry is spread
    over on top of the backoff (:func:`retry_delay`; the worker's: by how many it holds)."""
    worker_id = runtime.worker_id

    def fence(session: Session) -> bool:
        if token is None:
            return True
        return holds_lease(session, channel_id=channel_id, worker_id=worker_id, token=token)

    delay = BACKOFF_START
    if jitter > 0:
        await asyncio.sleep(random.uniform(0, jitter))
    while True:
        try:
            recorded_at: float | None = None

            async def synced() -> None:
                # The first sync of a connection marks the channel connected; later ones only
                # refresh ``last_sync`` now and then (not a write per arriving mail or IDLE
                # renewal: a thousand idle mailboxes would keep the database busy).
                nonlocal delay, recorded_at
                delay = BACKOFF_START
                now = time.monotonic()
                if recorded_at is None or now - recorded_at >= LAST_SYNC_EVERY:
                    recorded_at = now
                    await asyncio.to_thread(_record, runtime, channel_id, None)

            hooks = SessionHooks(fence=fence, on_synced=synced, connect_gate=gate)
            await transport.run_session(runtime, channel_id, hooks)
        except asyncio.CancelledError:
            raise
        except SessionEnded as exc:
            log.info("session of channel %s: stopping (%s)", channel_id, exc)
            return
        except Exception as exc:
            reason = transport.session_failure(exc)
            log.warning("session of channel %s: %s; retrying in %.0f s", channel_id, reason, delay)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(_record, runtime, channel_id, reason)
        await asyncio.sleep(retry_delay(delay, window() if window is not None else 0.0))
        delay = min(delay * 2, BACKOFF_MAX)


@dataclass
class Plan:
    """What one scan decided: channels to stop, to restart, to release and to take."""

    stop: list[int] = field(default_factory=list)
    restart: list[int] = field(default_factory=list)
    release: list[int] = field(default_factory=list)
    take: list[int] = field(default_factory=list)


class MailboxSupervisor:
    """The sessions of one transport's channels (e-mail: one IMAP sync per mailbox)."""

    def __init__(self, runtime: Runtime, transport: Transport) -> None:
        self.runtime = runtime
        self.transport = transport
        self.leased = runtime.db.is_postgres
        self.times = lease_times(runtime)
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.tokens: dict[int, int] = {}  # channel → fencing token (leased mode)
        # Sessions of lost leases being stopped beside the renewals (not taken again meanwhile).
        self.stopping: dict[int, asyncio.Task[None]] = {}
        # The renewals go on until every session is closed, also while the worker stops.
        self._sessions_closed = asyncio.Event()
        self.gate = asyncio.Semaphore(max(1, runtime.settings.worker_connect_concurrency))
        # Leases are read and renewed on a thread of their own: never queued behind the
        # mailboxes' database work (a thousand mailboxes starting at once fill the shared
        # pool, and a renewal stuck in that queue would lose every lease).
        self._lease_thread = ThreadPoolExecutor(1, thread_name_prefix="atendo-leases")

    async def _in_lease_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._lease_thread, fn, *args)

    # --- database side (threads) -------------------------------------------------------------

    def _scan(self) -> tuple[list[LeaseView], int]:
        with self.runtime.db.reading() as session:
            views = lease_views(session, transport=self.transport.name)
            live = len(live_workers(session, lapse=self.times.lapse)) if self.leased else 1
        return views, max(live, 1)

    def _clear_reconnect(self, ids: list[int]) -> None:
        with self.runtime.db.transaction() as session:
            session.execute(
                update(Channel)
                .where(Channel.id.in_(ids))
                .values(reconnect_requested=False)
                .execution_options(synchronize_session=False)
            )

    def _take(self, ids: list[int]) -> dict[int, int]:
        with self.runtime.db.transaction() as session:
            return take_leases(
                session,
                worker_id=self.runtime.worker_id,
                channel_ids=ids,
                seconds=self.times.lease,
            )

    def _renew(self, held: dict[int, int]) -> set[int]:
        with self.runtime.db.transaction() as session:
            return renew_leases(
                session, worker_id=self.runtime.worker_id, held=held, seconds=self.times.lease
            )

    def _release(self, ids: list[int]) -> None:
        if not self.leased or not ids:
            return
        with self.runtime.db.transaction() as session:
            release_leases(session, worker_id=self.runtime.worker_id, channel_ids=ids)

    # --- deciding ----------------------------------------------------------------------------

    def plan(self, views: list[LeaseView], live: int) -> Plan:
        plan = Plan()
        # A mailbox whose session is still stopping is neither held nor free yet.
        wanted = {v.channel_id: v for v in views if v.channel_id not in self.stopping}
        held = [cid for cid in self.tasks if cid in wanted]
        plan.stop = [cid for cid in self.tasks if cid not in wanted]
        plan.restart = [cid for cid in held if wanted[cid].reconnect]
        if not self.leased:
            plan.take = [cid for cid in wanted if cid not in self.tasks]
            return plan
        share = fair_share(len(wanted), live)
        if len(held) > share:
            # The newest first: a worker that just joined takes them over.
            plan.release = sorted(held, reverse=True)[: len(held) - share]
        elif len(held) < share:
            now = utcnow()
            free = [
                cid
                for cid, view in wanted.items()
                if cid not in self.tasks
                and (view.free(now) or view.owner == self.runtime.worker_id)
            ]
            plan.take = free[: share - len(held)]
        plan.restart = [cid for cid in plan.restart if cid not in plan.release]
        return plan

    # --- acting ------------------------------------------------------------------------------

    async def _stop_tasks(self, ids: list[int]) -> None:
        await stop_sessions([self.tasks.pop(cid) for cid in ids if cid in self.tasks])

    def _stop_lost(self, ids: list[int]) -> None:
        """Stop the sessions of lost leases in the background, then give back what is still
        ours (a renewal that failed altogether may have kept it)."""
        for cid in ids:
            task = self.tasks.pop(cid, None)
            if task is not None and cid not in self.stopping:
                self.stopping[cid] = asyncio.create_task(
                    self._stop_then_release(cid, task), name=f"atendo:mailbox-stop:{cid}"
                )

    async def _stop_then_release(self, cid: int, task: asyncio.Task[None]) -> None:
        try:
            await stop_sessions([task])
            with contextlib.suppress(Exception):
                await self._in_lease_thread(self._release, [cid])
        finally:
            self.stopping.pop(cid, None)

    def _window(self) -> float:
        return spread_window(len(self.tasks))

    def _start(self, cid: int, token: int | None, jitter: float) -> None:
        self.tasks[cid] = asyncio.create_task(
            run_channel(
                self.runtime,
                self.transport,
                cid,
                token=token,
                gate=self.gate,
                jitter=jitter,
                window=self._window,
            ),
            name=f"atendo:session:{self.transport.name}:{cid}",
        )

    async def scan_once(self) -> None:
        views, live = await self._in_lease_thread(self._scan)
        # Tasks that ended by themselves (lease lost, channel gone) are forgotten first.
        for cid in [cid for cid, task in self.tasks.items() if task.done()]:
            del self.tasks[cid]
            if self.tokens.pop(cid, None) is not None:
                await self._in_lease_thread(self._release, [cid])
        plan = self.plan(views, live)
        # Sessions end (and their sockets close) before a lease is given back, so the next
        # holder never overlaps with us.
        await self._stop_tasks(plan.stop + plan.release + plan.restart)
        gone = plan.stop + plan.release
        for cid in gone:
            self.tokens.pop(cid, None)
        await self._in_lease_thread(self._release, gone)
        if plan.restart:
            await self._in_lease_thread(self._clear_reconnect, plan.restart)
            for cid in plan.restart:
                self._start(cid, self.tokens.get(cid), 0.0)
        if not plan.take:
            return
        jitter = spread_window(len(plan.take))
        if not self.leased:
            for cid in plan.take:
                self._start(cid, None, jitter)
            return
        taken = await self._in_lease_thread(self._take, plan.take)
        self.tokens.update(taken)
        for cid, token in taken.items():
            self._start(cid, token, jitter)

    async def renew_once(self) -> None:
        """Renew every lease held; a lease not renewed cancels its task at once. A renewal
        that fails altogether (database gone) stops every task: nothing proves we hold them."""
        if not self.leased or not self.tokens:
            return
        held = dict(self.tokens)
        try:
            kept = await asyncio.wait_for(
                self._in_lease_thread(self._renew, held), self.times.renew * 2
            )
        except Exception as exc:
            log.warning("cannot renew the mailbox leases (%s): stopping their sessions", exc)
            kept = set()
        lost = [cid for cid in held if cid not in kept]
        if lost:
            log.warning("mailbox leases lost: %s", lost)
            for cid in lost:
                self.tokens.pop(cid, None)
            self._stop_lost(lost)

    async def _renew_loop(self) -> None:
        while not await sleep_or_stop(self._sessions_closed, self.times.renew):
            await self.renew_once()

    async def run(self, stop: asyncio.Event) -> None:
        renewing = asyncio.create_task(self._renew_loop(), name="atendo:mailbox-leases")
        warming = asyncio.create_task(
            self.transport.warm_up(), name=f"atendo:warm-up:{self.transport.name}"
        )
        try:
            async with WakeListener(self.runtime.db.url) as wake:
                while not stop.is_set():
                    wake.event.clear()
                    try:
                        await self.scan_once()
                    except Exception:
                        log.exception("cannot scan the mailboxes; retrying")
                    await _wait_any(stop, wake.event, SCAN_INTERVAL)
        finally:
            warming.cancel()
            # Sessions first, with the leases still renewed: a lease that expired while its
            # session was logging out would let another worker in beside it.
            ids = list(self.tasks)
            await self._stop_tasks(ids)
            await asyncio.gather(*self.stopping.values(), return_exceptions=True)
            self._sessions_closed.set()
            with contextlib.suppress(BaseException):
                await renewing
            with contextlib.suppress(Exception):
                await self._in_lease_thread(self._release, [c for c in ids if c in self.tokens])
            self.tokens.clear()
            self._lease_thread.shutdown(wait=False)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters: list[asyncio.Task[Any]] = [
        asyncio.create_task(stop.wait()),
        asyncio.create_task(wake.wait()),
    ]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def mailbox_sync_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """A session supervisor for every transport whose channels hold sessions (the seam's
    ``holds_sessions``: e-mail's mailboxes)."""
    supervisors = [
        MailboxSupervisor(runtime, t).run(stop)
        for t in transports.all_transports()
        if getattr(t, "holds_sessions", False)
    ]
    await asyncio.gather(*supervisors)
