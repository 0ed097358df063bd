"""The visitors' messages that wait at the same moment, stored in one transaction (group
commit).

A burst of visitors writing at once made one transaction each: fifty commits (each a write
lock taken in turn on SQLite, each a round trip and a NOTIFY on PostgreSQL) where one does.
A connection hands its unit of work (a function of the session, which only flushes) to its
process's :class:`Writer` and waits; the writer takes everything waiting, runs each unit in
order in one transaction and commits once, then answers each. So a message is acked only
after its commit, and the messages of one visitor keep their order (a connection sends its
next one after the ack of the last; two tabs' messages are run in the order they came).

When the transaction fails (a unit raised, or the commit did), nothing of it is kept and every
unit of the batch is run again in a transaction of its own: the others are stored as they
would have been alone, and the failing one raises to its own caller only.

Up to ``WRITERS`` batches run at once, each on the widget's threads (:mod:`.threads`): one on
SQLite (a single writer at a time anyway), a few on PostgreSQL, so that a batch waiting on the
network does not hold back the next one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from atendo.kit.db import Database
from atendo.runtime import Runtime
from atendo.transports.widget.threads import in_thread

log = logging.getLogger("atendo.widget")

# Units of work in one transaction at most. On SQLite a batch holds the write lock while it
# runs: an operator's answer (POST /v1/messages) waited for a whole burst of fifty (its API
# answer p50 0.4 s → 1.2 s at 300 visitors); ten at a time let it in between batches, with
# less CPU than fifty (bursts 4.25 s against 5.02 s, steady 8.80 s against 9.61 s).
MAX_BATCH = 10
WRITERS_SQLITE = 1
WRITERS_POSTGRES = 3

Unit = Callable[[Session], Any]
R = TypeVar("R")


@dataclass(frozen=True)
class Failed:
    """A unit's exception, handed back to its caller."""

    error: Exception


class Writer:
    """One process's group commit of the visitors' writes, on one event loop."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.writers = WRITERS_POSTGRES if db.is_postgres else WRITERS_SQLITE
        self._waiting: list[tuple[Unit, asyncio.Future[Any]]] = []
        self._running = 0  # batches being stored
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, unit: Callable[[Session], R]) -> R:
        """``unit(session)`` stored with whatever else is waiting; its result once committed
        (its exception when it failed on its own)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((unit, future))
        if self._running < self.writers:
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result: R = await future
        return result

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                try:
                    outcomes = await in_thread(store_together, self.db, [u for u, _ in batch])
                except BaseException:  # cancelled (the loop ends): no answer will come
                    for _unit, future in batch + self._waiting:
                        future.cancel()
                    raise
                _answer(batch, outcomes)
        finally:
            self._running -= 1


def _answer(batch: list[tuple[Unit, asyncio.Future[Any]]], outcomes: list[Any]) -> None:
    for (_unit, future), outcome in zip(batch, outcomes, strict=True):
        if future.done():  # its caller went away (the socket closed): stored all the same
            continue
        if isinstance(outcome, Failed):
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome)


def store_together(db: Database, units: list[Unit]) -> list[Any]:
    """Each unit in order in one transaction, one commit; when that fails, each again in a
    transaction of its own. Each unit's result, or :class:`Failed` with its exception."""
    if len(units) > 1:
        try:
            with db.transaction() as session:
                return [unit(session) for unit in units]
        except Exception:
            log.info("a batch of %d visitor writes failed: each is stored alone", len(units))
    return [store_alone(db, unit) for unit in units]


def store_alone(db: Database, unit: Unit) -> Any:
    """One unit in a transaction of its own: its result, or :class:`Failed`."""
    try:
        with db.transaction() as session:
            return unit(session)
    except Exception as exc:
        return Failed(exc)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Writer]] = (
    weakref.WeakKeyDictionary()
)


def writer_for(runtime: Runtime) -> Writer:
    """The runtime's writer on the running event loop (its futures belong to that loop)."""
    loop = asyncio.get_running_loop()
    mine = _writers.setdefault(loop, {})
    found = mine.get(id(runtime))
    if found is None or found.db is not runtime.db:
        found = mine[id(runtime)] = Writer(runtime.db)
    return found
