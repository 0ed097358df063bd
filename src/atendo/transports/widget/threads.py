"""The widget's own threads for its blocking work (database reads and writes).

asyncio's default executor has ``cpu_count + 4`` threads for the whole process: on a 2-CPU
machine six, shared with the workers. On PostgreSQL each unit of work waits on the network
most of its time, and a few hundred visitors writing at once queued behind those six threads
for seconds: there the widget's calls get a pool of their own, sized for waiting (it never
holds more database connections than it has threads: 8, and one for each lane below, 10 of
the engine's default pool of 15, which the API and the workers share).

The hub's reads and the delivery loop's rounds do not queue there: each loop runs its calls,
one at a time anyway, on a :class:`Lane`, a thread of its own. Behind a burst of visitors'
messages (50 writes queued before it, each waiting for SQLite's write lock or for a
connection) an answer waited seconds to be claimed and read.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

THREADS = 8
_pool: ThreadPoolExecutor | None = None

P = ParamSpec("P")
R = TypeVar("R")


def setup(postgres: bool) -> None:
    """Choose the threads once the database is known: a pool of the widget's own on
    PostgreSQL; on SQLite (one writer at a time, a small connection pool) asyncio's default
    threads, since more threads there only wait longer for the write lock and connections."""
    global _pool
    if postgres and _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="atendo-widget")


class Lane:
    """One thread of its own for a loop that makes one blocking call at a time: started on the
    first call, ended by :meth:`close` (the loop's end)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        return await _run_on(self._pool, fn, *args, **kwargs)

    def close(self) -> None:
        """The thread ends once its call in flight (if any) returns."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


async def in_thread(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``asyncio.to_thread`` on the widget's threads (the caller's context variables kept)."""
    return await _run_on(_pool, fn, *args, **kwargs)


async def _run_on(
    pool: ThreadPoolExecutor | None, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """``fn`` on ``pool`` (None: asyncio's default threads), the caller's context variables
    kept."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)
