"""The event dispatcher: committed ``events`` rows → webhook deliveries (see
``atendo.core.webhooks.service.dispatch_events``).

It runs again as soon as an event is committed in any process (``core.events.service.TOPIC``
through this process's one :class:`atendo.kit.wake.Fanout` of it: LISTEN/NOTIFY on
PostgreSQL, in-process on SQLite); without a wake-up, every ``POLL_SECONDS`` anyway."""

from __future__ import annotations

import asyncio
import logging

from atendo.core.events.service import TOPIC
from atendo.runtime import Runtime
from atendo.workers.runner import woken_rounds
from atendo.workers.webhook_delivery import dispatch_once

log = logging.getLogger("atendo.events")

POLL_SECONDS = 0.5


async def dispatch_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    await woken_rounds(
        runtime,
        stop,
        lambda: dispatch_once(runtime),
        topic=TOPIC,
        idle_seconds=POLL_SECONDS,
        log=log,
    )
