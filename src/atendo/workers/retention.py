"""Retention: events and webhook deliveries are deleted once done and older than
``ATENDO_EVENT_RETENTION_DAYS`` (default 7), so that neither table grows without bound.

Every ``INTERVAL`` seconds (and once at start) it deletes in batches, one transaction each,
so that no delete holds its locks for long. Several processes may run it at once: on
PostgreSQL the second waits for the first's row locks and then finds nothing left to delete.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from atendo.core.events.service import PRUNE_BATCH, prune_events
from atendo.core.webhooks.service import prune_deliveries
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.retention")

INTERVAL = 600.0


def prune_once(runtime: Runtime) -> tuple[int, int]:
    """One pass: (events deleted, webhook deliveries deleted)."""
    cutoff = utcnow() - timedelta(days=runtime.settings.event_retention_days)
    counts = []
    for prune in (prune_events, prune_deliveries):
        total = 0
        while True:
            with runtime.db.transaction() as session:
                done = prune(session, older_than=cutoff, batch=PRUNE_BATCH)
            total += done
            if done < PRUNE_BATCH:
                break
        counts.append(total)
    if any(counts):
        log.info("pruned %d events and %d webhook deliveries", *counts)
    return counts[0], counts[1]


async def retention_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    while True:
        try:
            await asyncio.to_thread(prune_once, runtime)
        except Exception:
            log.exception("retention round failed")
        if await sleep_or_stop(stop, INTERVAL):
            return
