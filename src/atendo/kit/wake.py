"""Waking a worker when a channel changes (created, reconnected, deleted), instead of letting
it find out at its next scan.

:func:`channel_changed` is called inside the transaction that changes the channel; the wake-up
goes out only if that transaction commits:

* PostgreSQL: ``pg_notify('atendo_channels', id)``, which PostgreSQL delivers at commit to
  every session that LISTENs, in any process;
* SQLite (one process): the session's ``after_commit`` hook sets the event of every
  :class:`WakeListener` of this process (thread-safe: the commit may run in a thread).

A worker opens a :class:`WakeListener` and waits on :attr:`WakeListener.event` beside its
scan interval. On PostgreSQL the listener keeps its own connection (psycopg, autocommit,
LISTEN), reconnecting after a pause if it drops.
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
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": CHANNEL, "payload": str(channel_id)})  # fmt: skip
        return
    if not session.info.get("atendo_wake"):
        session.info["atendo_wake"] = True
        event.listen(session, "after_commit", _wake_in_process, once=True)


def _wake_in_process(session: Session) -> None:
    session.info.pop("atendo_wake", None)
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener.poke()


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeListener:
    """``async with WakeListener(database_url) as wake: ... await wake.event.wait()``; clear
    the event before each scan so a wake-up during the scan is not lost."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.event.set)

    async def __aenter__(self) -> WakeListener:
        self._loop = asyncio.get_running_loop()
        with _listeners_lock:
            _listeners.add(self)
        if make_url(self.database_url).get_backend_name() == "postgresql":
            self._task = asyncio.create_task(self._listen(), name="atendo:wake")
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
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.event.set()  # anything missed while not listening: scan now
                    async for _note in conn.notifies():
                        self.event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("channel wake-ups: %s; listening again soon", exc)
            await asyncio.sleep(RECONNECT_PAUSE)
