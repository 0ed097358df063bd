"""Delivers queued messages of ``external`` channels through the company's ``outbox``
webhooks (see ``atendo.channels.external``). A message is ``sent`` as soon as one receiver
accepts it (2xx); otherwise it is retried on the webhook schedule (10 s, 5 min, 2 h) and
marked ``failed`` 5 hours after its first try."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from atendo.channels.external import TRANSPORT, mark_delivered, mark_not_delivered
from atendo.core.enums import EventType
from atendo.core.messages.models import Message
from atendo.core.messages.service import claim_due_messages, message_event_payload
from atendo.core.webhooks.service import next_retry, outbox_webhooks, webhook_secret
from atendo.kit.clock import iso, utcnow
from atendo.runtime import Runtime
from atendo.workers.runner import sleep_or_stop
from atendo.workers.webhook_delivery import new_client, post_signed

log = logging.getLogger("atendo.external")

POLL_SECONDS = 1.0

Job = tuple[int, Any, dict[str, Any], list[tuple[str, str]]]


async def send_due(runtime: Runtime, client: httpx.AsyncClient) -> int:
    """Claim due external messages and deliver each; returns how many were tried."""
    db = runtime.db

    def claim() -> list[Job]:
        with db.transaction() as session:
            jobs: list[Job] = []
            for m in claim_due_messages(
                session, worker_id=runtime.worker_id or "external", transport=TRANSPORT
            ):
                payload = message_event_payload(session, m)
                payload = {
                    "hook_type": EventType.OUTBOX.value,
                    "event_time": iso(utcnow()),
                    **payload,
                }
                targets = [
                    (h.url, webhook_secret(h, runtime.box))
                    for h in outbox_webhooks(
                        session, company_id=m.company_id, channel_id=m.channel_id
                    )
                ]
                jobs.append((m.id, m.created, payload, targets))
            return jobs

    jobs = await asyncio.to_thread(claim)
    allow = runtime.settings.webhooks_allow_private_networks

    async def one(job: Job) -> None:
        message_id, _created, payload, targets = job
        errors: list[str] = []
        delivered = False
        for url, secret in targets:
            outcome = await post_signed(
                client,
                url=url,
                secret=secret,
                msg_id=f"msg_{message_id}",
                payload=payload,
                allow_private=allow,
            )
            if outcome.error is None:
                delivered = True
            else:
                errors.append(f"{url}: {outcome.error}")
        if not targets:
            errors.append("no enabled webhook is subscribed to outbox for this channel")

        def save() -> None:
            with db.transaction() as session:
                if delivered:
                    mark_delivered(session, message_id=message_id)
                    return
                message = session.get(Message, message_id)
                if message is None:
                    return
                # The 5-hour window runs from the message's creation: send_at moves on retry.
                retry = next_retry(message.created, message.attempts, utcnow())
                mark_not_delivered(
                    session, message_id=message_id, error="; ".join(errors), retry_at=retry
                )

        await asyncio.to_thread(save)

    await asyncio.gather(*(one(job) for job in jobs))
    return len(jobs)


async def sender_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    async with new_client() as client:
        while not stop.is_set():
            try:
                count = await send_due(runtime, client)
            except Exception:
                log.exception("external sender round failed")
                count = 0
            if not count and await sleep_or_stop(stop, POLL_SECONDS):
                return
