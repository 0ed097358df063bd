"""The router's loop: hands queued chats to online operators (``core.team.routing``), one
transaction per company and round, and sends operators whose panel status outlived the
inactivity timeout offline (``core.team.statuses.expire_inactive``) every ``EXPIRE_EVERY``."""

from __future__ import annotations

import asyncio
import logging
import time

from atendo.core.team.routing import companies_with_queue, route_queue
from atendo.core.team.statuses import expire_inactive
from atendo.runtime import Runtime
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.routing")

POLL_SECONDS = 0.5
EXPIRE_EVERY = 10.0


def route_once(runtime: Runtime) -> int:
    """One round over every company with a queue; returns how many chats were handed out."""
    with runtime.db.reading() as session:
        companies = companies_with_queue(session)
    handed = 0
    for company_id in companies:
        with runtime.db.transaction() as session:
            handed += len(route_queue(session, company_id=company_id))
    return handed


def expire_once(runtime: Runtime) -> list[int]:
    with runtime.db.transaction() as session:
        return expire_inactive(session)


async def routing_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    last_expiry = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() - last_expiry >= EXPIRE_EVERY:
                last_expiry = time.monotonic()
                await asyncio.to_thread(expire_once, runtime)
            handed = await asyncio.to_thread(route_once, runtime)
        except Exception:
            log.exception("routing round failed")
            handed = 0
        if not handed and await sleep_or_stop(stop, POLL_SECONDS):
            return
