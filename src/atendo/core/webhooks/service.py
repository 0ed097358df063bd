"""Webhooks: subscriptions (CRUD), fan-out of committed events, and the delivery schedule.

How an event reaches an endpoint::

    events row (written with the change, committed)
        └─ dispatch_events(): one WebhookDelivery per matching enabled webhook, event marked
           dispatched — in the same transaction, so a crash never loses nor doubles one
    webhook_deliveries (per webhook, ordered by id)
        └─ claim_next_deliveries(): the oldest undelivered row of each webhook, only when it
           is due — one in flight per endpoint, so receivers see events in order
        └─ record_delivery_result(): delivered, or retried after 10 s, 5 min, 2 h (then every
           2 h); after 5 h of failures the webhook is switched off (status ``disabled``)

A claim sets ``status = "sending"`` and pushes ``next_attempt_at`` a lease into the future:
if the worker dies mid-request the row becomes due again after the lease, with no sweeper.

The HTTP side (signing, the SSRF guard at connect time, sending) lives in
``atendo.kit.signed_post``, run by ``atendo.workers.webhook_delivery``; this module only
decides what to send, to whom and when. The workers are woken rather than left to their
timers: writing an event notifies ``core.events.service.TOPIC`` (the dispatcher), and
:func:`dispatch_events` writing deliveries notifies :data:`DELIVERIES_TOPIC` (the senders).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from atendo.core.enums import PANEL_ONLY_EVENTS, EventType
from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.events.models import Event
from atendo.core.webhooks.models import Webhook, WebhookDelivery
from atendo.kit.clock import iso, utcnow
from atendo.kit.crypto import SecretBox
from atendo.kit.db import delete_selected, get_scoped
from atendo.kit.netguard import (
    WEB_PORTS,
    PortSet,
    Resolver,
    TargetRefused,
    system_resolver,
    vetted_addresses,
)
from atendo.kit.wake import notify

MAX_WEBHOOKS = 20
DELIVERIES_TOPIC = "atendo_webhook_deliveries"  # notified when deliveries are written
MAX_LAST_ERRORS = 10
RETRY_DELAYS = (timedelta(seconds=10), timedelta(minutes=5), timedelta(hours=2))
GIVE_UP_AFTER = timedelta(hours=5)
CLAIM_LEASE = timedelta(seconds=60)
ENABLED = "enabled"
DISABLED = "disabled"
# channel_status, typing and mentions feed the panel (and live chats) only; they are not part
# of the public webhook contract.
PANEL_ONLY = tuple(PANEL_ONLY_EVENTS)
WEBHOOK_EVENTS = tuple(e.value for e in EventType if e not in PANEL_ONLY_EVENTS)
LEGACY_NAME = "default"


# --- SSRF guard ------------------------------------------------------------------------


def check_url_shape(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or Invalid."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(
            "url must be an http or https URL",
            {"url": ["http or https URL"]},
            code="webhook.invalid_url",
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid(
            "url has an invalid port", {"url": ["invalid port"]}, code="webhook.invalid_port"
        ) from None
    return parts.hostname, port


def refused_address(
    url: str,
    *,
    allow_private: bool,
    resolve: Resolver = system_resolver,
    ports: PortSet | None = None,
) -> str | None:
    """Why the target may not be called (SSRF), or None when it may.

    This is the check at creation, for a clear 422; delivery vets the addresses it connects
    to again (``atendo.kit.signed_post``), since DNS answers change.
    """
    host, port = check_url_shape(url)
    if port not in (ports or PortSet(WEB_PORTS)):
        return f"port {port} is not allowed for webhooks"
    if allow_private:
        return None
    try:
        vetted_addresses(host, port, allow_private=False, resolve=resolve)
    except TargetRefused as exc:
        return exc.reason
    return None


# --- CRUD ------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_<base64>``)."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def _clean_events(events: list[Any]) -> list[str]:
    out = [str(e).strip() for e in events if str(e).strip()]
    unknown = [e for e in out if e not in WEBHOOK_EVENTS]
    if unknown:
        raise Invalid(
            f"Unknown events: {', '.join(unknown)}",
            {"events": [f"unknown: {e}" for e in unknown]},
            code="webhook.invalid_events",
            params={"events": ", ".join(unknown)},
        )
    return list(dict.fromkeys(out))


def get_webhook(session: Session, *, company_id: int, webhook_id: int) -> Webhook:
    hook = get_scoped(session, Webhook, webhook_id, company_id=company_id)
    if hook is None:
        raise NotFound()
    return hook


def list_webhooks(session: Session, *, company_id: int) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook).where(Webhook.company_id == company_id).order_by(Webhook.id)
        )
    )


def create_webhook(
    session: Session,
    *,
    company_id: int,
    url: str,
    box: SecretBox,
    allow_private: bool,
    name: str = "",
    events: list[Any] | None = None,
    channels: list[int] | None = None,
    ports: PortSet | None = None,
) -> tuple[Webhook, str]:
    """A new subscription and its secret (shown to the caller once, stored encrypted)."""
    if not url.strip():
        raise Invalid("url is required", {"url": ["required"]}, code="webhook.url_required")
    count = session.scalar(select(func.count(Webhook.id)).where(Webhook.company_id == company_id))
    if (count or 0) >= MAX_WEBHOOKS:
        raise Conflict(
            f"A company can have at most {MAX_WEBHOOKS} webhooks",
            code="webhook.too_many",
            params={"limit": MAX_WEBHOOKS},
        )
    reason = refused_address(url, allow_private=allow_private, ports=ports)
    if reason:
        raise Invalid(
            f"url refused: {reason}",
            {"url": [reason]},
            code="webhook.url_refused",
            params={"reason": reason},
        )
    secret = new_secret()
    hook = Webhook(
        company_id=company_id,
        name=name.strip(),
        url=url.strip(),
        events=_clean_events(events or []),
        channels=[int(c) for c in channels or []],
        secret=box.encrypt(secret),
        status=ENABLED,
        last_errors=[],
    )
    session.add(hook)
    session.flush()
    return hook, secret


def update_webhook(
    session: Session,
    *,
    company_id: int,
    webhook_id: int,
    allow_private: bool,
    url: str | None = None,
    name: str | None = None,
    events: list[Any] | None = None,
    channels: list[int] | None = None,
    status: str | None = None,
    ports: PortSet | None = None,
) -> Webhook:
    hook = get_webhook(session, company_id=company_id, webhook_id=webhook_id)
    if url is not None and url.strip() != hook.url:
        reason = refused_address(url, allow_private=allow_private, ports=ports)
        if reason:
            raise Invalid(
                f"url refused: {reason}",
                {"url": [reason]},
                code="webhook.url_refused",
                params={"reason": reason},
            )
        hook.url = url.strip()
    if name is not None:
        hook.name = name.strip()
    if events is not None:
        hook.events = _clean_events(events)
    if channels is not None:
        hook.channels = [int(c) for c in channels]
    if status is not None:
        normal = {"active": ENABLED, "inactive": DISABLED}.get(status, status)
        if normal not in (ENABLED, DISABLED):
            raise Invalid(
                "status must be enabled or disabled",
                {"status": ["invalid"]},
                code="webhook.invalid_status",
            )
        if normal == ENABLED and hook.status != ENABLED:
            # Re-enabled: the backlog is due now and the 5-hour clock starts afresh.
            hook.failing_since = None
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.company_id == company_id,
                    WebhookDelivery.webhook_id == hook.id,
                    WebhookDelivery.status.in_(("pending", "sending")),
                )
                .values(status="pending", next_attempt_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        hook.status = normal
    session.flush()
    return hook


def delete_webhook(session: Session, *, company_id: int, webhook_id: int) -> None:
    hook = get_webhook(session, company_id=company_id, webhook_id=webhook_id)
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.company_id == company_id, WebhookDelivery.webhook_id == hook.id
        )
    )
    session.delete(hook)
    session.flush()


def webhook_by_name(session: Session, *, company_id: int, name: str) -> Webhook | None:
    return session.scalar(
        select(Webhook)
        .where(Webhook.company_id == company_id, Webhook.name == name)
        .order_by(Webhook.id)
        .limit(1)
    )


def webhook_payload(hook: Webhook) -> dict[str, Any]:
    """The API's view (never the secret)."""
    return {
        "id": hook.id,
        "name": hook.name,
        "url": hook.url,
        "events": list(hook.events or []),
        "channels": list(hook.channels or []),
        "status": hook.status,
        "failing_since": iso(hook.failing_since),
        "last_errors": list(hook.last_errors or []),
        "created": iso(hook.created),
    }


# --- fan-out ---------------------------------------------------------------------------


def hook_wants(hook: Webhook, event_type: str, channel_id: int | None) -> bool:
    if hook.status != ENABLED:
        return False
    if hook.events and event_type not in hook.events:
        return False
    # Events that belong to no channel (tags, client updates) reach channel-filtered hooks too.
    return not (hook.channels and channel_id is not None and channel_id not in hook.channels)


def dispatch_events(
    session: Session, *, limit: int = 200, outbox_delivered_by: Collection[str] = ()
) -> int:
    """Turn committed, undispatched events into deliveries; returns how many events.

    ``outbox_delivered_by``: the transports whose sender posts their ``outbox`` events to the
    webhooks itself (and learns from the answer whether a message was accepted): a second
    copy through the ordinary path would duplicate them, so those are skipped."""
    stmt = select(Event).where(Event.dispatched.is_(False)).order_by(Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    events = list(session.scalars(stmt))
    hooks: dict[int, list[Webhook]] = {}
    added = False
    for event in events:
        if event.company_id not in hooks:
            hooks[event.company_id] = list_webhooks(session, company_id=event.company_id)
        payload = dict(event.payload or {})
        skip = event.type in PANEL_ONLY_EVENTS or (
            event.type == EventType.OUTBOX and payload.get("transport") in outbox_delivered_by
        )
        if not skip:
            for hook in hooks[event.company_id]:
                if hook_wants(hook, event.type, event.channel_id):
                    added = True
                    session.add(
                        WebhookDelivery(
                            company_id=event.company_id,
                            webhook_id=hook.id,
                            event_id=event.id,
                            payload=payload,
                            status="pending",
                            attempts=0,
                            next_attempt_at=event.created,
                        )
                    )
        event.dispatched = True
    session.flush()
    if added:
        notify(session, DELIVERIES_TOPIC)  # the delivery workers of every process look now
    return len(events)


# --- delivery schedule -----------------------------------------------------------------


def claim_next_deliveries(session: Session, *, limit: int = 50) -> list[WebhookDelivery]:
    """The head delivery of each enabled webhook, when due; claimed for one lease."""
    now = utcnow()
    heads = (
        select(func.min(WebhookDelivery.id))
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(Webhook.status == ENABLED, WebhookDelivery.status.in_(("pending", "sending")))
        .group_by(WebhookDelivery.webhook_id)
    )
    due = list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(heads), WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )
    claimed: list[WebhookDelivery] = []
    for delivery in due:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.status == delivery.status,
                WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
            )
            .values(
                status="sending",
                next_attempt_at=now + CLAIM_LEASE,
                attempts=WebhookDelivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(delivery)
            claimed.append(delivery)
    session.flush()
    return claimed


def next_retry(first_failure: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed tries; None once 5 h have passed."""
    deadline = first_failure + GIVE_UP_AFTER
    if now >= deadline:
        return None
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    # The last try happens at the 5-hour mark rather than being skipped past it.
    return min(now + delay, deadline)


def record_delivery_result(
    session: Session, *, delivery_id: int, error: str | None, status_code: int | None = None
) -> WebhookDelivery | None:
    """Record one attempt: ``error`` None means the receiver accepted (2xx)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return None  # the webhook was deleted meanwhile
    hook = session.get(Webhook, delivery.webhook_id)
    if hook is None:
        return None
    now = utcnow()
    if error is None:
        delivery.status = "delivered"
        delivery.last_error = None
        hook.failing_since = None
        session.flush()
        return delivery
    delivery.last_error = error
    if hook.failing_since is None:
        hook.failing_since = now
    hook.last_errors = [
        *list(hook.last_errors or [])[-(MAX_LAST_ERRORS - 1) :],
        {
            "time": iso(now),
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "hook_type": (delivery.payload or {}).get("hook_type"),
            "status_code": status_code,
            "error": error[:500],
        },
    ]
    retry = next_retry(hook.failing_since, delivery.attempts, now)
    if retry is None:
        hook.status = DISABLED
        delivery.status = "pending"
        delivery.next_attempt_at = now
    else:
        delivery.status = "pending"
        delivery.next_attempt_at = retry
    session.flush()
    return delivery


def webhook_secret(hook: Webhook, box: SecretBox) -> str:
    return box.decrypt(hook.secret)


def outbox_webhooks(session: Session, *, company_id: int, channel_id: int) -> list[Webhook]:
    """Enabled webhooks that take ``outbox`` events of this channel (external transport)."""
    return [
        h
        for h in list_webhooks(session, company_id=company_id)
        if hook_wants(h, EventType.OUTBOX.value, channel_id)
    ]


# --- retention -------------------------------------------------------------------------

PRUNE_BATCH = 5000


def prune_deliveries(session: Session, *, older_than: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` delivered webhook deliveries created before ``older_than``;
    returns how many. Pending ones stay whatever their age (a disabled webhook that is
    enabled again still sends them). The caller commits; run again until it returns less
    than ``batch``."""
    doomed = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "delivered", WebhookDelivery.created < older_than)
        .order_by(WebhookDelivery.id)
        .limit(batch)
    )
    return delete_selected(session, WebhookDelivery, doomed)
