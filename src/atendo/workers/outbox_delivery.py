"""The shared outbox worker: delivers the due messages of every transport that has no
delivery pipeline of its own (``own_delivery`` False), one message at a time, through the
registry (:meth:`atendo.transports.base.Transport.deliver`).

A round, per transport: claim its due messages (queued → sending) and let the transport read
what it needs in the same transaction (``prepare``); deliver them concurrently; record all
outcomes in one transaction with :func:`atendo.core.messages.outbox.record_outcomes` (sent,
or requeued on the outbox's one retry schedule, or failed). A transport that raises counts
as a temporary failure. Messages left in ``sending`` by a crash are requeued by
``recover_stale_sending`` (run by e-mail's delivery loop for every transport).

A message queued in any process wakes it (``core.messages.outgoing.QUEUED_TOPIC``, this
process's one :class:`atendo.kit.wake.Fanout` of it); otherwise it looks every
``POLL_SECONDS`` (messages whose send delay or retry comes due, requeued claims).
"""

from __future__ import annotations

import asyncio
import logging

from atendo.core.messages.outbox import (
    Outcome,
    TemporaryFailure,
    claim_due_messages,
    record_outcomes,
)
from atendo.core.messages.outgoing import QUEUED_TOPIC
from atendo.core.messages.service import message_event_payloads
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.base import DeliveryJob, Transport
from atendo.workers.runner import woken_rounds

log = logging.getLogger("atendo.outbox")

POLL_SECONDS = 1.0
BATCH = 50


def _claim(runtime: Runtime, transport: Transport, worker_id: str) -> list[DeliveryJob]:
    with runtime.db.transaction() as session:
        due = claim_due_messages(
            session, worker_id=worker_id, limit=BATCH, transport=transport.name
        )
        payloads = message_event_payloads(session, due)
        return [
            transport.prepare(
                session,
                runtime,
                DeliveryJob(m.id, m.company_id, m.channel_id, payloads[m.id]),
            )
            for m in due
        ]


async def _deliver(runtime: Runtime, transport: Transport, job: DeliveryJob) -> Outcome:
    try:
        return await transport.deliver(runtime, job)
    except Exception as exc:
        log.exception("%s: delivering message %s failed", transport.name, job.message_id)
        return TemporaryFailure(f"{type(exc).__name__}: {exc}")


async def deliver_due(runtime: Runtime) -> int:
    """One round over every transport the shared worker serves; returns how many were tried."""
    worker_id = runtime.worker_id or "outbox"
    tried = 0
    for transport in registry.all_transports():
        if transport.own_delivery:
            continue
        jobs = await asyncio.to_thread(_claim, runtime, transport, worker_id)
        if not jobs:
            continue
        outcomes = await asyncio.gather(*(_deliver(runtime, transport, j) for j in jobs))

        def save(pairs: list[tuple[int, Outcome]]) -> None:
            with runtime.db.transaction() as session:
                record_outcomes(session, pairs)

        await asyncio.to_thread(
            save, [(job.message_id, o) for job, o in zip(jobs, outcomes, strict=True)]
        )
        tried += len(jobs)
    return tried


async def outbox_delivery_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    await woken_rounds(
        runtime,
        stop,
        lambda: deliver_due(runtime),
        topic=QUEUED_TOPIC,
        idle_seconds=POLL_SECONDS,
        log=log,
    )
