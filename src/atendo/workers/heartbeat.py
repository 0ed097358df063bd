"""The worker's heartbeat: registers this process in ``workers`` and beats every renewal
interval; on the same beat it puts back in the queue what dead workers had claimed
(:func:`~atendo.core.messages.outbox.requeue_claims_of_lapsed_workers`). A clean stop
removes the row, so the other workers' fair share grows at once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor

from atendo.core.leases.service import LeaseTimes, beat, forget_worker, prune_workers
from atendo.core.messages.outbox import requeue_claims_of_lapsed_workers
from atendo.runtime import Runtime
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.workers.heartbeat")

PRUNE_EVERY = 720  # beats


def lease_times(runtime: Runtime) -> LeaseTimes:
    return LeaseTimes.from_lease(runtime.settings.worker_lease_seconds)


def beat_once(runtime: Runtime, *, prune: bool = False) -> list[int]:
    """One beat; returns the ids of the messages requeued from dead workers."""
    times = lease_times(runtime)
    with runtime.db.transaction() as session:
        beat(session, worker_id=runtime.worker_id)
    with runtime.db.transaction() as session:
        requeued = requeue_claims_of_lapsed_workers(session, lapse=times.lapse)
        if prune:
            prune_workers(session)
    if requeued:
        log.warning("requeued %d message(s) of stopped workers: %s", len(requeued), requeued)
    return requeued


async def heartbeat_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    # Its own thread: a beat never waits behind the mailboxes' database work.
    thread = ThreadPoolExecutor(1, thread_name_prefix="atendo-heartbeat")
    loop = asyncio.get_running_loop()
    beats = 0
    try:
        while not stop.is_set():
            try:
                prune = beats % PRUNE_EVERY == 0
                await loop.run_in_executor(
                    thread, functools.partial(beat_once, runtime, prune=prune)
                )
            except Exception:
                log.exception("heartbeat failed")
            beats += 1
            if await sleep_or_stop(stop, lease_times(runtime).renew):
                return
    finally:
        with contextlib.suppress(Exception):

            def forget() -> None:
                with runtime.db.transaction() as session:
                    forget_worker(session, worker_id=runtime.worker_id)

            await loop.run_in_executor(thread, forget)
        thread.shutdown(wait=False)
