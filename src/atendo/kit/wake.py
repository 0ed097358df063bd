"""Waking a worker when a channel changes (created, reconnected, deleted), instead of letting
it find out at its next scan; and, the same way, any other listener of a topic (the widget's
live hubs: an answer committed in one ``atendo serve`` process reaches a visitor connected to
another at once).

:func:`channel_changed` (topic ``atendo_channels``) and :func:`notify` (any topic) are called
inside the transaction that changes something; the wake-up goes out only if that transaction
commits:

* PostgreSQL: ``pg_notify(topic, payload)``, which PostgreSQL delivers at commit to every
  session that LISTENs, in any process (several in one transaction arrive once);
* SQLite (one process): the session's ``after_commit`` hook sets the event of every
  :class:`WakeListener` of that topic in this process (thread-safe: the commit may run in a
  thread).

A worker opens a :class:`WakeListener` and waits on :attr:`WakeListener.event` beside its
scan interval. On PostgreSQL the listener keeps its own connection (psycopg, autocommit,
LISTEN), reconnecting after a pause if it drops (and sets the event when it listens again:
what was sent meanwhile was missed).

Several notifies of one topic and payload in one transaction cost one ``pg_notify`` (and
arrive once). The payload reaches the listener (``on_note``; ``None`` when it (re)starts
listening: anything may have been missed). :class:`Fanout` is one process's single listener
of a topic whose payload names a key (the events' company id): each waiter of a key (a panel
live stream), or of every key (a worker), gets its own wake-up — one connection per process
and topic, however many streams are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("atendo.wake")

CHANNEL = "atendo_channels"
RECONNECT_PAUSE = 2.0

_listeners: set[WakeListener] = set()
_listeners_lock = threading.Lock()


def channel_changed(session: Session, channel_id: int) -> None:
    """Wake the workers once this transaction commits."""
    notify(session, CHANNEL, str(channel_id))


def notify(session: Session, topic: str, payload: str = "") -> None:
    """Wake the listeners of ``topic`` once this transaction commits (a rollback sends
    nothing). ``topic`` is an SQL identifier of ours (letters, digits, ``_``). The same topic
    and payload again in the same transaction costs nothing."""
    sent: set[tuple[str, str]] | None = session.info.get("atendo_notified")
    if sent is None:
        sent = session.info["atendo_notified"] = set()
        if not session.info.get("atendo_notify_hooked"):
            session.info["atendo_notify_hooked"] = True
            event.listen(session, "after_transaction_end", _end_of_transaction)
    elif (topic, payload) in sent:
        return
    sent.add((topic, payload))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": topic, "payload": payload})  # fmt: skip
        return
    topics: dict[str, set[str]] | None = session.info.get("atendo_wake")
    if topics is None:
        topics = session.info["atendo_wake"] = {}
        event.listen(session, "after_commit", _wake_in_process, once=True)
        event.listen(session, "after_rollback", _forget, once=True)
    topics.setdefault(topic, set()).add(payload)


def _end_of_transaction(session: Session, transaction: SessionTransaction) -> None:
    # The transaction's end, or a savepoint's (whose rollback takes its pg_notify with it):
    # the next notify is sent again rather than trusted to an earlier one. Not a flush's own
    # inner span, which ends with every flush.
    if transaction.parent is None or transaction.nested:
        session.info.pop("atendo_notified", None)


def _forget(session: Session) -> None:
    session.info.pop("atendo_wake", None)


def _wake_in_process(session: Session) -> None:
    topics: dict[str, set[str]] = session.info.pop("atendo_wake", None) or {}
    with _listeners_lock:
        listeners = [listener for listener in _listeners if listener.topic in topics]
    for listener in listeners:
        for payload in topics[listener.topic]:
            listener.poke(payload)


async def wait_for_either(one: asyncio.Event, other: asyncio.Event, seconds: float) -> None:
    """Until either event is set or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(one.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeListener:
    """``async with WakeListener(database_url) as wake: ... await wake.event.wait()``; clear
    the event before each scan so a wake-up during the scan is not lost."""

    def __init__(
        self,
        database_url: str,
        topic: str = CHANNEL,
        on_note: Callable[[str | None], None] | None = None,
    ) -> None:
        if not topic.replace("_", "").isalnum():
            raise ValueError(f"not a topic name: {topic!r}")
        self.database_url = database_url
        self.topic = topic
        self.on_note = on_note  # called in the listener's loop with each payload
        self.event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def poke(self, payload: str | None = None) -> None:
        """Wake it (thread-safe); ``None``: whatever the payload."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._woken, payload)

    def _woken(self, payload: str | None) -> None:
        self.event.set()
        if self.on_note is not None:
            try:
                self.on_note(payload)
            except Exception:
                log.exception("wake-ups (%s): handing out %r failed", self.topic, payload)

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a wake-up, ``stop`` or ``seconds``, whichever comes first."""
        await wait_for_either(self.event, stop, seconds)

    def attach(self) -> None:
        """Take this process's wake-ups in the running loop from now on (the in-process ones
        at once: ``async with`` may start a moment later)."""
        self._loop = asyncio.get_running_loop()
        with _listeners_lock:
            _listeners.add(self)

    async def __aenter__(self) -> WakeListener:
        self.attach()
        if make_url(self.database_url).get_backend_name() == "postgresql":
            self._task = asyncio.create_task(self._listen(), name=f"atendo:wake:{self.topic}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _listeners_lock:
            _listeners.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(
                    _libpq_url(self.database_url), autocommit=True
                )
                async with conn:
                    await conn.execute(f"LISTEN {self.topic}")
                    self._woken(None)  # anything missed while not listening: scan now
                    async for note in conn.notifies():
                        self._woken(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("wake-ups (%s): %s; listening again soon", self.topic, exc)
            await asyncio.sleep(RECONNECT_PAUSE)


@dataclass(eq=False)
class Waiter:
    """One waiter of a :class:`Fanout`: its wake-up lives in its own event loop. Clear
    :attr:`event` before each read, so that what is committed during the read wakes it."""

    key: str | None  # None: every key
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Thread-safe."""
        if self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.event.set()
        else:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a wake-up, ``stop`` or ``seconds``, whichever comes first."""
        await wait_for_either(self.event, stop, seconds)


class Fanout:
    """One process's listener of ``topic``, handing each notify to the waiters of its payload
    (and to those of every payload); a (re)start of the listener wakes them all. Get it with
    :func:`fanout`: one per database and topic in a process."""

    def __init__(self, database_url: str, topic: str) -> None:
        self.database_url = database_url
        self.topic = topic
        self._waiters: dict[str | None, set[Waiter]] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, key: str | None) -> Waiter:
        """A waiter of ``key`` (None: of every key), in the running loop."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(key, loop)
        with self._lock:
            self._waiters.setdefault(key, set()).add(waiter)
            self._ensure_running(loop)
        return waiter

    def unwatch(self, waiter: Waiter) -> None:
        with self._lock:
            found = self._waiters.get(waiter.key)
            if found is not None:
                found.discard(waiter)
                if not found:
                    del self._waiters[waiter.key]

    @contextlib.asynccontextmanager
    async def watching(self, key: str | None) -> AsyncIterator[Waiter]:
        waiter = self.watch(key)
        try:
            yield waiter
        finally:
            self.unwatch(waiter)

    def _ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        """The listener runs in the loop of the first waiter; again in another once that loop
        has ended (a test's loop). Called under the lock."""
        task, owner = self._task, self._loop
        if task is not None and not task.done() and owner is not None and not owner.is_closed():
            return
        self._loop = loop
        listener = WakeListener(self.database_url, self.topic, on_note=self._hand_out)
        listener.attach()  # before the waiter reads: a commit from now on wakes it
        self._task = loop.create_task(self._listen(listener), name=f"atendo:fanout:{self.topic}")

    @staticmethod
    async def _listen(listener: WakeListener) -> None:
        async with listener:
            await asyncio.Event().wait()  # until cancelled (its loop ends)

    def _hand_out(self, payload: str | None) -> None:
        with self._lock:
            if payload is None:
                woken = [w for group in self._waiters.values() for w in group]
            else:
                woken = [*self._waiters.get(payload, ()), *self._waiters.get(None, ())]
        for waiter in woken:
            waiter.wake()


_fanouts: dict[tuple[str, str], Fanout] = {}
_fanouts_lock = threading.Lock()


def fanout(database_url: str, topic: str) -> Fanout:
    """This process's :class:`Fanout` of ``topic`` on that database."""
    with _fanouts_lock:
        found = _fanouts.get((database_url, topic))
        if found is None:
            found = _fanouts[(database_url, topic)] = Fanout(database_url, topic)
        return found
