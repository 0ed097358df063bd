"""Runs the background loops as asyncio tasks and stops them cleanly.

Each loop is an ``async def loop(runtime, stop: asyncio.Event)`` that returns when ``stop`` is
set. A loop that crashes is logged and restarted after a pause: one broken loop never takes
the others (or the web server) down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from atendo.kit.wake import fanout
from atendo.runtime import Runtime

log = logging.getLogger("atendo.workers")

Loop = Callable[[Runtime, asyncio.Event], Awaitable[None]]

RESTART_PAUSE = 2.0


def default_loops() -> list[tuple[str, Loop]]:
    """The loops `atendo serve` and `atendo worker` run (filled in by the channel modules)."""
    from atendo.workers.registry import LOOPS

    return list(LOOPS)


class WorkerSet:
    def __init__(self, runtime: Runtime, loops: list[tuple[str, Loop]] | None = None) -> None:
        self.runtime = runtime
        self.loops = default_loops() if loops is None else loops
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, loop in self.loops:
            self.tasks.append(asyncio.create_task(self._guard(name, loop), name=f"atendo:{name}"))

    async def _guard(self, name: str, loop: Loop) -> None:
        while not self.stop_event.is_set():
            try:
                await loop(self.runtime, self.stop_event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker loop %s crashed; restarting", name)
                await sleep_or_stop(self.stop_event, RESTART_PAUSE)
            else:
                if not self.stop_event.is_set():
                    await asyncio.sleep(RESTART_PAUSE)

    async def stop(self, grace: float = 10.0) -> None:
        self.stop_event.set()
        if not self.tasks:
            return
        _, pending = await asyncio.wait(self.tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when asked to stop meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def woken_rounds(
    runtime: Runtime,
    stop: asyncio.Event,
    step: Callable[[], Awaitable[int]],
    *,
    topic: str,
    idle_seconds: float,
    log: logging.Logger,
) -> None:
    """Run ``step`` (a round: how much it did) until ``stop``, again at once after a round that
    did something; after an empty one (or a failed one, logged), when ``topic`` is notified
    in any process (this process's one :class:`atendo.kit.wake.Fanout` of it) or after
    ``idle_seconds``, whichever comes first."""
    async with fanout(runtime.db.url, topic).watching(None) as wake:
        while not stop.is_set():
            wake.event.clear()  # before the round: what is notified during it wakes the next
            try:
                count = await step()
            except Exception:
                log.exception("round failed")
                count = 0
            if not count:
                await wake.wait(stop, idle_seconds)
