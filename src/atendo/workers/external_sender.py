"""Delivers queued messages of ``external`` channels through the company's ``outbox``
webhooks (see ``atendo.transports.external``). A message is ``sent`` as soon as one receiver
accepts it (2xx); otherwise it is retried on the webhook schedule (10 s, 5 min, 2 h) and
marked ``failed`` 5 hours after its first try."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from atendo.core.enums import EventType
from atendo.core.messages.models import Message
from atendo.core.messages.service import claim_due_messages, message_event_payload
from atendo.core.webhooks.service import next_retry, outbox_webhooks, webhook_secret
from atendo.kit.clock import iso, utcnow
from atendo.kit.signed_post import SignedPoster
from atendo.runtime import Runtime
from atendo.transports.external import TRANSPORT, mark_delivered, mark_not_delivered
from atendo.workers.http_delivery import claim_send_save, poll_rounds

log = logging.getLogger("atendo.external")

POLL_SECONDS = 1.0
NO_TARGET = "no enabled webhook is subscribed to outbox for this channel"


@dataclass(frozen=True)
class Job:
    message_id: int
    payload: dict[str, Any]
    targets: list[tuple[str, str]]  # (url, secret) of each outbox webhook


def _job(session: Session, runtime: Runtime, message: Message) -> Job:
    payload = {
        "hook_type": EventType.OUTBOX.value,
        "event_time": iso(utcnow()),
        **message_event_payload(session, message),
    }
    hooks = outbox_webhooks(session, company_id=message.company_id, channel_id=message.channel_id)
    return Job(message.id, payload, [(h.url, webhook_secret(h, runtime.box)) for h in hooks])


async def _offer(poster: SignedPoster, job: Job) -> list[str]:
    """POST the message to every outbox webhook; the errors, or [] once one accepted it."""
    errors = [] if job.targets else [NO_TARGET]
    delivered = False
    for url, secret in job.targets:
        outcome = await poster.post(
            url, secret=secret, msg_id=f"msg_{job.message_id}", payload=job.payload
        )
        if outcome.error is None:
            delivered = True
        else:
            errors.append(f"{url}: {outcome.error}")
    return [] if delivered else errors


def _record(session: Session, job: Job, errors: list[str]) -> None:
    if not errors:
        mark_delivered(session, message_id=job.message_id)
        return
    message = session.get(Message, job.message_id)
    if message is None:
        return
    # The 5-hour window runs from the message's creation: send_at moves on retry.
    retry = next_retry(message.created, message.attempts, utcnow())
    mark_not_delivered(session, message_id=job.message_id, error="; ".join(errors), retry_at=retry)


async def send_due(runtime: Runtime, poster: SignedPoster) -> int:
    """Claim due external messages and deliver each; returns how many were tried."""
    db = runtime.db
    worker_id = runtime.worker_id or "external"

    def claim() -> list[Job]:
        with db.transaction() as session:
            due = claim_due_messages(session, worker_id=worker_id, transport=TRANSPORT)
            return [_job(session, runtime, m) for m in due]

    async def send(job: Job) -> list[str]:
        return await _offer(poster, job)

    def save(job: Job, errors: list[str]) -> None:
        with db.transaction() as session:
            _record(session, job, errors)

    return await claim_send_save(claim, send, save)


async def sender_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    await poll_rounds(runtime, stop, send_due, idle_seconds=POLL_SECONDS, log=log)
