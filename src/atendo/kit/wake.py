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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

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
    nothing). ``topic`` is an SQL identifier of ours (letters, digits, ``_``)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": topic, "payload": payload})  # fmt: skip
        return
    topics: set[str] | None = session.info.get("atendo_wake")
    if topics is None:
        topics = session.info["atendo_wake"] = set()
        event.listen(session, "after_commit", _wake_in_process, once=True)
        event.listen(session, "after_rollback", _forget, once=True)
    topics.add(topic)


def _forget(session: Session) -> None:
    session.info.pop("atendo_wake", None)


def _wake_in_process(session: Session) -> None:
    topics = session.info.pop("atendo_wake", None) or set()
    with _listeners_lock:
        listeners = [listener for listener in _listeners if listener.topic in topics]
    for listener in listeners:
        listener.poke()


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeListener:
    """``async with WakeListener(database_url) as wake: ... await wake.event.wait()``; clear
    the event before each scan so a wake-up during the scan is not lost."""

    def __init__(self, database_url: str, topic: str = CHANNEL) -> None:
        if not topic.replace("_", "").isalnum():
            raise ValueError(f"not a topic name: {topic!r}")
        self.database_url = database_url
        self.topic = topic
        self.event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.event.set)

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a wake-up, ``stop`` or ``seconds``, whichever comes first."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.event.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def __aenter__(self) -> WakeListener:
        self._loop = asyncio.get_running_loop()
        with _listeners_lock:
            _listeners.add(self)
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
                    self.event.set()  # anything missed while not listening: scan now
                    async for _note in conn.notifies():
                        self.event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("wake-ups (%s): %s; listening again soon", self.topic, exc)
            await asyncio.sleep(RECONNECT_PAUSE)
