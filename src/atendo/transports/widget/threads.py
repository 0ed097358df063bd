"""The widget's own threads for its blocking work (database reads and writes).

asyncio's default executor has ``cpu_count + 4`` threads for the whole process: on a 2-CPU
machine six, shared with the workers. On PostgreSQL each unit of work waits on the network
most of its time, and a few hundred visitors writing at once queued behind those six threads
for seconds. The widget's calls get a pool of their own, sized for waiting (it never holds
more database connections than it has threads, well under the engine's pool).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

THREADS = 16
_pool = ThreadPoolExecutor(THREADS, thread_name_prefix="atendo-widget")

P = ParamSpec("P")
R = TypeVar("R")


async def in_thread(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``asyncio.to_thread`` on the widget's pool (the caller's context variables kept)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)
