"""Webhook delivery: signs each payload per Standard Webhooks and POSTs it, one in flight per
endpoint (see ``atendo.core.webhooks.service`` for the schedule).

Signature: ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` where
the key is the base64-decoded part of the ``whsec_`` secret; ``webhook-id`` is stable across
retries (receivers deduplicate by it). Redirects are not followed and the target is checked
again at delivery time: DNS may have changed since the webhook was created.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from atendo.core.webhooks.models import Webhook
from atendo.core.webhooks.service import (
    claim_next_deliveries,
    dispatch_events,
    record_delivery_result,
    refused_address,
    secret_key,
    webhook_secret,
)
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.webhooks")

TIMEOUT = 10.0
POLL_SECONDS = 1.0


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Outcome:
    error: str | None
    status_code: int | None = None


async def post_signed(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    msg_id: str,
    payload: dict[str, Any],
    allow_private: bool,
) -> Outcome:
    """One signed POST; ``error`` is None when the receiver answered 2xx."""
    try:
        reason = await asyncio.to_thread(refused_address, url, allow_private=allow_private)
    except Exception as exc:  # an Invalid URL stored before validation tightened
        return Outcome(f"refused: {exc}")
    if reason:
        return Outcome(f"refused: {reason}")
    body = encode(payload)
    ts = int(utcnow().timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "Atendo-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return Outcome(f"timeout after {TIMEOUT:.0f} s")
    except httpx.HTTPError as exc:
        return Outcome(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if 200 <= response.status_code < 300:
        return Outcome(None, response.status_code)
    return Outcome(f"HTTP {response.status_code}", response.status_code)


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


async def deliver_due(runtime: Runtime, client: httpx.AsyncClient) -> int:
    """Dispatch committed events, then send the due head delivery of every webhook.

    Returns how many deliveries were attempted (tests call this step by step).
    """
    db = runtime.db

    def claim() -> list[tuple[int, int, str, str, dict[str, Any]]]:
        with db.transaction() as session:
            jobs = []
            for d in claim_next_deliveries(session):
                hook = session.get(Webhook, d.webhook_id)
                if hook is None:
                    continue
                secret = webhook_secret(hook, runtime.box)
                jobs.append((d.id, d.event_id, hook.url, secret, dict(d.payload)))
            return jobs

    jobs = await asyncio.to_thread(claim)
    allow = runtime.settings.webhooks_allow_private_networks

    async def one(job: tuple[int, int, str, str, dict[str, Any]]) -> None:
        delivery_id, event_id, url, secret, payload = job
        outcome = await post_signed(
            client,
            url=url,
            secret=secret,
            msg_id=f"evt_{event_id}",
            payload=payload,
            allow_private=allow,
        )

        def save() -> None:
            with db.transaction() as session:
                record_delivery_result(
                    session,
                    delivery_id=delivery_id,
                    error=outcome.error,
                    status_code=outcome.status_code,
                )

        await asyncio.to_thread(save)

    # Different webhooks in parallel; each webhook has at most one job here (its head).
    await asyncio.gather(*(one(job) for job in jobs))
    return len(jobs)


async def dispatch_once(runtime: Runtime) -> int:
    def run() -> int:
        with runtime.db.transaction() as session:
            return dispatch_events(session)

    return await asyncio.to_thread(run)


async def delivery_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    async with new_client() as client:
        while not stop.is_set():
            try:
                sent = await deliver_due(runtime, client)
            except Exception:
                log.exception("webhook delivery round failed")
                sent = 0
            if not sent and await sleep_or_stop(stop, POLL_SECONDS):
                return
