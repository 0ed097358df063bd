"""The widget's delivery loop: operators' answers leave the outbox for the visitors.

A widget message needs no remote server: once claimed it is delivered (the visitor's live
connection shows it, now or when they come back). So the loop claims the due widget messages
and records them ``sent`` in one transaction with the outbox's own verbs
(:func:`claim_due_messages`, :func:`record_outcomes`: the ``outbox_status`` event the hubs
carry to the visitors), then wakes this process's hubs. It looks every ``POLL`` seconds with
a read (no write lock while idle), which keeps an answer's way to the visitor short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from atendo.core.enums import DeliveryStatus
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import Accepted, claim_due_messages, record_outcomes
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.transports.widget.hub import nudge_all
from atendo.transports.widget.visitors import TRANSPORT

log = logging.getLogger("atendo.widget")
POLL = 0.2
BATCH = 500


def _any_due(runtime: Runtime) -> bool:
    with runtime.db.reading() as session:
        found = session.scalar(
            select(Message.id)
            .where(
                Message.delivery_status == DeliveryStatus.QUEUED,
                Message.transport == TRANSPORT,
                Message.send_at <= utcnow(),
            )
            .limit(1)
        )
        return found is not None


def deliver_widget_messages(runtime: Runtime) -> int:
    """Deliver the due widget messages; returns how many."""
    if not _any_due(runtime):
        return 0
    with runtime.db.transaction() as session:
        due = claim_due_messages(
            session, worker_id=runtime.worker_id or "widget", limit=BATCH, transport=TRANSPORT
        )
        record_outcomes(session, [(m.id, Accepted("widget")) for m in due])
    if due:
        nudge_all()
    return len(due)


async def widget_delivery_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            count = await asyncio.to_thread(deliver_widget_messages, runtime)
        except Exception:
            log.exception("widget delivery round failed")
            count = 0
        if count:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL)
