"""The event dispatcher: committed ``events`` rows → webhook deliveries (see
``atendo.core.webhooks.service.dispatch_events``)."""

from __future__ import annotations

import asyncio
import logging

from atendo.runtime import Runtime
from atendo.workers.runner import sleep_or_stop
from atendo.workers.webhook_delivery import dispatch_once

log = logging.getLogger("atendo.events")

POLL_SECONDS = 0.5


async def dispatch_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            count = await dispatch_once(runtime)
        except Exception:
            log.exception("event dispatch round failed")
            count = 0
        if not count and await sleep_or_stop(stop, POLL_SECONDS):
            return
