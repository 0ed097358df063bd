"""Webhook delivery: POSTs each webhook's head delivery, signed (Standard Webhooks), one in
flight per endpoint (see ``atendo.core.webhooks.service`` for the schedule and
``atendo.kit.signed_post`` for the signature and the SSRF guard at connect time). It looks
again as soon as the dispatcher of any process writes deliveries (``DELIVERIES_TOPIC``),
else every ``POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from atendo.core.webhooks.models import Webhook, WebhookDelivery
from atendo.core.webhooks.service import (
    DELIVERIES_TOPIC,
    claim_next_deliveries,
    dispatch_events,
    record_delivery_result,
    webhook_secret,
)
from atendo.kit.signed_post import Outcome, SignedPoster
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.workers.http_delivery import claim_send_save, poll_rounds

log = logging.getLogger("atendo.webhooks")

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Job:
    delivery_id: int
    event_id: int
    url: str
    secret: str
    payload: dict[str, Any]


def _job(session: Session, runtime: Runtime, delivery: WebhookDelivery) -> Job | None:
    hook = session.get(Webhook, delivery.webhook_id)
    if hook is None:
        return None
    secret = webhook_secret(hook, runtime.box)
    return Job(delivery.id, delivery.event_id, hook.url, secret, dict(delivery.payload))


async def deliver_due(runtime: Runtime, poster: SignedPoster) -> int:
    """Send the due head delivery of every webhook, different webhooks in parallel.

    Returns how many deliveries were attempted (tests call this step by step).
    """
    db = runtime.db

    def claim() -> list[Job]:
        with db.transaction() as session:
            jobs = (_job(session, runtime, d) for d in claim_next_deliveries(session))
            return [job for job in jobs if job is not None]

    async def send(job: Job) -> Outcome:
        return await poster.post(
            job.url, secret=job.secret, msg_id=f"evt_{job.event_id}", payload=job.payload
        )

    def save(job: Job, outcome: Outcome) -> None:
        with db.transaction() as session:
            record_delivery_result(
                session,
                delivery_id=job.delivery_id,
                error=outcome.error,
                status_code=outcome.status_code,
            )

    return await claim_send_save(claim, send, save)


async def dispatch_once(runtime: Runtime) -> int:
    own = frozenset(t.name for t in registry.all_transports() if t.outbox_by_webhook)

    def run() -> int:
        with runtime.db.transaction() as session:
            return dispatch_events(session, outbox_delivered_by=own)

    return await asyncio.to_thread(run)


async def delivery_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    await poll_rounds(
        runtime, stop, deliver_due, idle_seconds=POLL_SECONDS, log=log, topic=DELIVERIES_TOPIC
    )
