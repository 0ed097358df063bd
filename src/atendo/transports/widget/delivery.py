"""The widget's delivery loop: operators' answers leave the outbox for the visitors.

A widget message needs no remote server: once claimed it is delivered (the visitor's live
connection shows it, now or when they come back). So the loop claims the due widget messages
and records them ``sent`` in one transaction with the outbox's own verbs
(:func:`claim_due_messages`, :func:`record_outcomes`: the ``outbox_status`` event the hubs
carry to the visitors) and wakes every process's hub (:func:`.hub.changed`). It looks when
an answer is queued (:func:`queued`, a wake-up through :mod:`atendo.kit.wake`: any process's
loop may take it) and, failing that, every ``widget_delivery_poll`` seconds with a read (no
write lock while idle).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.enums import DeliveryStatus
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import Accepted, claim_due_messages, record_outcomes
from atendo.kit.clock import utcnow
from atendo.kit.wake import WakeListener, notify
from atendo.runtime import Runtime
from atendo.transports.widget.hub import changed
from atendo.transports.widget.threads import Lane
from atendo.transports.widget.visitors import TRANSPORT

log = logging.getLogger("atendo.widget")
TOPIC = "atendo_widget_outbox"
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
            changed(session)  # every process's hub carries them to the visitors
    return len(due)


def queued(session: Session) -> None:
    """An answer to a visitor was queued in this transaction: the delivery loops (any process)
    look at once when it commits."""
    notify(session, TOPIC)


async def widget_delivery_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    lane = Lane("atendo-widget-delivery")
    try:
        async with WakeListener(runtime.db.url, topic=TOPIC) as wake:
            await _deliver_until(runtime, stop, wake, lane)
    finally:
        lane.close()


async def _deliver_until(
    runtime: Runtime, stop: asyncio.Event, wake: WakeListener, lane: Lane
) -> None:
    while not stop.is_set():
        wake.event.clear()
        try:
            count = await lane.run(deliver_widget_messages, runtime)
        except Exception:
            log.exception("widget delivery round failed")
            count = 0
        if count:
            continue
        await wake.wait(stop, runtime.settings.widget_delivery_poll)
