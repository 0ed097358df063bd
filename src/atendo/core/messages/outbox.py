"""The outbox: every delivery state change of an outgoing message, for every transport.

Outbound delivery states (the message row *is* the outbox)::

    queued ──(send_at reached, claimed)──▶ sending ──(accepted)──▶ sent ──(DSN)──▶ bounced
      │                                      │  ▲
      │ interrupt (only while queued)        │  └─ temporary failure: requeued, send_at later
      ▼                                      ▼
    cancelled                              failed (permanent failure, or retries exhausted)

One function per transition: :func:`claim_due_batch` (queued → sending),
:func:`record_outcomes` (sending → sent | queued | failed, from a transport's
:data:`Outcome`; a :class:`ChannelProblem` — the server refused the channel's login — puts
the message back as it was and holds the channel's queue instead of spending retries),
:func:`requeue_claims_of_lapsed_workers` (sending → queued once the worker that claimed it
stopped beating), :func:`recover_stale_sending` (sending → queued after a crash, the slow net
under it),
:func:`interrupt_message` (queued → cancelled), :func:`mark_bounced` (sent → bounced).
Every transition is conditional on the state it leaves (``WHERE delivery_status =
<expected>``, or the row locked and checked), so an interrupt and a sender's claim racing for
the same row cannot both win. Retries follow ONE schedule, :class:`RetrySchedule`, whatever
the transport.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import hold_sending
from atendo.core.enums import DeliveryStatus, EventType
from atendo.core.errors import Conflict
from atendo.core.leases.models import Worker
from atendo.core.messages.limits import (
    SendLimits,
    allowance,
    channels_at_limit,
    within_allowance,
)
from atendo.core.messages.models import Message, MessageStatusEvent
from atendo.core.messages.service import (
    emit_message_event,
    emit_message_events,
    get_message,
    record_status,
    record_statuses,
)
from atendo.kit.clock import utcnow

# --- what a transport reports for one delivery attempt -----------------------------------


@dataclass(frozen=True)
class Accepted:
    """The receiving side took the message (``reply``: its words, e.g. SMTP's 250 line)."""

    reply: str
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemporaryFailure:
    """Worth another try later (4xx, network)."""

    reason: str


@dataclass(frozen=True)
class PermanentFailure:
    """Never worth another try (5xx, a message that cannot be built)."""

    reason: str
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelProblem:
    """The channel cannot send anything (its server refused the login): no fault of this
    message. It goes back to the queue without spending an attempt, and the channel's
    sending is held (:func:`atendo.core.channels.service.hold_sending`) until it is fixed."""

    reason: str


Outcome = Accepted | TemporaryFailure | PermanentFailure | ChannelProblem

# The history line of a message held by its channel (the panel words it "waiting for the
# connection").
WAITING_FOR_CHANNEL = "waiting for the connection"


@dataclass(frozen=True)
class RetrySchedule:
    """After the n-th failed attempt wait ``backoff[n-1]`` (then ``then_every``); give up
    once the next try would come later than ``give_up_after`` from the message's creation."""

    backoff: Sequence[timedelta] = (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    then_every: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=24)

    def next_attempt(self, message: Message, now: datetime) -> timedelta | None:
        """The wait before the next attempt, or None when it is time to give up."""
        n = max(1, message.attempts or 1)
        delay = self.backoff[n - 1] if n <= len(self.backoff) else self.then_every
        if now + delay - message.created > self.give_up_after:
            return None
        return delay


RETRY = RetrySchedule()


# --- queued → sending ----------------------------------------------------------------------


def claim_due_batch(
    session: Session,
    *,
    worker_id: str,
    limit: int = 50,
    transport: str | None = None,
    send_limits: SendLimits | None = None,
) -> list[int]:
    """queued → sending for due messages: one conditional
    ``UPDATE … WHERE delivery_status = 'queued' … RETURNING id`` for the whole batch, so a row
    an interrupt already moved is simply not returned, and one INSERT of the history rows.
    Messages of a channel whose sending is held (``Channel.send_held``) wait, still queued
    (and interruptible), until the channel is fixed.

    On PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED`` so that concurrent senders
    take disjoint rows; the conditional update is what makes the claim safe everywhere.
    With ``send_limits`` a channel takes no more than its per-minute and per-hour allowance
    (:mod:`.limits`): the rest stays queued for a later round. Returns the ids claimed."""
    now = utcnow()
    stmt = (
        select(Message.id, Message.channel_id)
        .where(
            Message.delivery_status == DeliveryStatus.QUEUED,
            Message.send_at <= now,
            Message.channel_id.not_in(select(Channel.id).where(Channel.send_held.is_(True))),
        )
        .order_by(Message.send_at, Message.id)
        .limit(limit)
    )
    if transport:
        stmt = stmt.where(Message.transport == transport)
    if send_limits is not None:
        full = channels_at_limit(session, send_limits, now)
        if full:
            stmt = stmt.where(Message.channel_id.not_in(full))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    found = [(int(i), c) for i, c in session.execute(stmt)]
    if send_limits is not None and found:
        channel_ids = sorted({c for _, c in found if c is not None})
        candidates = within_allowance(found, allowance(session, send_limits, now, channel_ids))
    else:
        candidates = [i for i, _ in found]
    if not candidates:
        return []
    rows = session.execute(
        update(Message)
        .where(Message.id.in_(candidates), Message.delivery_status == DeliveryStatus.QUEUED)
        .values(
            delivery_status=DeliveryStatus.SENDING.value,
            claimed_by=worker_id,
            claimed_at=now,
            attempts=Message.attempts + 1,
        )
        .returning(Message.id, Message.company_id)
        .execution_options(synchronize_session=False)
    ).all()
    if rows:
        session.execute(
            insert(MessageStatusEvent),
            [
                {
                    "company_id": company_id,
                    "message_id": message_id,
                    "status": DeliveryStatus.SENDING.value,
                    "detail": "",
                    "created": now,
                }
                for message_id, company_id in rows
            ],
        )
    return sorted(message_id for message_id, _ in rows)


def fair_claim_limit(
    session: Session, *, most: int, live_workers: int, transport: str | None = None
) -> int:
    """How many due messages one claim may take so that ``live_workers`` senders share a
    burst evenly: ``ceil(due / live)``, at least 1 and at most ``most``."""
    if live_workers <= 1:
        return most
    due = (
        select(Message.id)
        .where(Message.delivery_status == DeliveryStatus.QUEUED, Message.send_at <= utcnow())
        .limit(most * live_workers)
    )
    if transport:
        due = due.where(Message.transport == transport)
    count = session.scalar(select(func.count()).select_from(due.subquery())) or 0
    return max(1, min(most, math.ceil(count / live_workers)))


def claim_due_messages(
    session: Session, *, worker_id: str, limit: int = 50, transport: str | None = None
) -> list[Message]:
    """queued → sending for due messages (see :func:`claim_due_batch`), loaded as rows."""
    ids = claim_due_batch(session, worker_id=worker_id, limit=limit, transport=transport)
    if not ids:
        return []
    stmt = (
        select(Message)
        .where(Message.id.in_(ids))
        .order_by(Message.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


# --- sending → sent | queued | failed ------------------------------------------------------


def _transition(
    message: Message, outcome: Outcome, now: datetime, schedule: RetrySchedule
) -> tuple[DeliveryStatus, str, dict[str, Any]]:
    """The new status, the history line, and the columns to write for this outcome."""
    if isinstance(outcome, Accepted):
        detail = outcome.reply
        if outcome.refused:
            detail += "; refused: " + "; ".join(f"{r}: {w}" for r, w in outcome.refused.items())
        values = {
            "delivery_status": DeliveryStatus.SENT.value,
            "sent_at": now,
            "smtp_reply": outcome.reply,
            "error": None,
            "recipient_errors": dict(outcome.refused),
        }
        return DeliveryStatus.SENT, detail, values
    if isinstance(outcome, ChannelProblem):
        detail = f"{WAITING_FOR_CHANNEL}: {outcome.reason}"[:1000]
        values = {
            "delivery_status": DeliveryStatus.QUEUED.value,
            "attempts": max(0, (message.attempts or 1) - 1),  # not this message's fault
            "error": detail,
            "claimed_by": None,
        }
        return DeliveryStatus.QUEUED, detail, values
    if isinstance(outcome, TemporaryFailure):
        delay = schedule.next_attempt(message, now)
        if delay is None:
            detail = f"gave up after {message.attempts} attempts: {outcome.reason}"[:1000]
            return (
                DeliveryStatus.FAILED,
                detail,
                {"delivery_status": DeliveryStatus.FAILED.value, "error": detail},
            )
        detail = f"retrying: {outcome.reason}"[:1000]
        values = {
            "delivery_status": DeliveryStatus.QUEUED.value,
            "send_at": now + delay,
            "error": detail,
            "claimed_by": None,
        }
        return DeliveryStatus.QUEUED, detail, values
    values = {
        "delivery_status": DeliveryStatus.FAILED.value,
        "error": outcome.reason[:1000],
        "recipient_errors": dict(outcome.refused),
    }
    return DeliveryStatus.FAILED, outcome.reason[:1000], values


def record_outcomes(
    session: Session,
    outcomes: Sequence[tuple[int, Outcome]],
    *,
    schedule: RetrySchedule = RETRY,
) -> list[Message]:
    """sending → sent (accepted), queued with a later ``send_at`` (temporary failure, by
    ``schedule``) or failed (permanent failure, or retries exhausted), for many messages at
    once: one query per table. A row no longer in ``sending`` (interrupted, recovered and
    claimed again) is left alone. ``outbox_status`` is emitted for every row that left the
    queue for good. Returns the rows written."""
    by_id = dict(outcomes)
    if not by_id:
        return []
    # Row-locked in id order (PostgreSQL; SQLite's write transaction is exclusive already),
    # so the check below and the write cannot be split by a concurrent recovery, and two
    # senders never wait on each other in a cycle.
    rows = session.scalars(
        select(Message).where(Message.id.in_(by_id)).order_by(Message.id).with_for_update()
    ).all()
    now = utcnow()
    history: list[tuple[Message, str, str]] = []
    written: list[Message] = []
    finished: list[Message] = []
    held: dict[int, str] = {}
    for message in rows:
        if message.delivery_status != DeliveryStatus.SENDING:
            continue
        outcome = by_id[message.id]
        if isinstance(outcome, ChannelProblem):
            held[message.channel_id] = outcome.reason
        status, detail, values = _transition(message, outcome, now, schedule)
        for key, value in values.items():
            setattr(message, key, value)
        history.append((message, status.value, detail))
        written.append(message)
        if status != DeliveryStatus.QUEUED:
            finished.append(message)
    session.flush()
    record_statuses(session, history)
    if finished:
        emit_message_events(session, finished, type=EventType.OUTBOX_STATUS)
    for channel_id, reason in sorted(held.items()):
        hold_sending(session, channel_id=channel_id, reason=reason)
    return written


def requeue_claims_of_lapsed_workers(session: Session, *, lapse: timedelta) -> list[int]:
    """sending → queued for the messages claimed by a worker whose heartbeat is older than
    ``lapse`` (it died: ``kill -9``, a lost machine). They keep their Message-ID, so a message
    the dead worker had already handed to the server is recognised as the same by receivers.
    A history line says why. Returns their ids."""
    cutoff = utcnow() - lapse
    lapsed = select(Worker.id).where(Worker.heartbeat < cutoff)
    rows = session.execute(
        update(Message)
        .where(Message.delivery_status == DeliveryStatus.SENDING, Message.claimed_by.in_(lapsed))
        .values(delivery_status=DeliveryStatus.QUEUED.value, claimed_by=None)
        .returning(Message.id, Message.company_id)
        .execution_options(synchronize_session=False)
    ).all()
    if rows:
        now = utcnow()
        session.execute(
            insert(MessageStatusEvent),
            [
                {
                    "company_id": company_id,
                    "message_id": message_id,
                    "status": DeliveryStatus.QUEUED.value,
                    "detail": "requeued: the worker that claimed it stopped",
                    "created": now,
                }
                for message_id, company_id in rows
            ],
        )
    return sorted(message_id for message_id, _ in rows)


def recover_stale_sending(session: Session, *, older_than: timedelta) -> list[int]:
    """Messages left in ``sending`` by a crashed sender go back to ``queued`` (a transport
    that can, like e-mail's Message-ID, lets receivers deduplicate). Returns their ids."""
    cutoff = utcnow() - older_than
    ids = list(
        session.scalars(
            select(Message.id).where(
                Message.delivery_status == DeliveryStatus.SENDING,
                Message.claimed_at <= cutoff,
            )
        )
    )
    if ids:
        session.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.delivery_status == DeliveryStatus.SENDING)
            .values(delivery_status=DeliveryStatus.QUEUED.value, claimed_by=None)
            .execution_options(synchronize_session=False)
        )
    return ids


# --- queued → cancelled, sent → bounced ----------------------------------------------------


def interrupt_message(session: Session, *, company_id: int, message_id: int) -> Message:
    """queued → cancelled, only if still queued (409 once it has left)."""
    message = get_message(session, company_id=company_id, message_id=message_id)
    result = session.execute(
        update(Message)
        .where(
            Message.id == message.id,
            Message.company_id == company_id,
            Message.delivery_status == DeliveryStatus.QUEUED,
        )
        .values(delivery_status=DeliveryStatus.CANCELLED.value)
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        state = message.delivery_status or "not an outgoing message"
        if state in (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.BOUNCED):
            raise Conflict("Message has already been sent", code="message.already_sent")
        raise Conflict(
            f"Message cannot be interrupted: it is {state}",
            code="message.not_interruptible",
            params={"state": state},
        )
    record_status(session, message=message, status=DeliveryStatus.CANCELLED, detail="interrupted")
    emit_message_event(session, message=message, type=EventType.OUTBOX_STATUS)
    return message


def interrupt_queued(
    session: Session,
    *,
    company_id: int,
    channel_id: int | None = None,
    client_id: int | None = None,
    message_id: int | None = None,
) -> int:
    """Interrupt every still-queued message matching the filters; returns how many."""
    stmt = select(Message.id).where(
        Message.company_id == company_id, Message.delivery_status == DeliveryStatus.QUEUED
    )
    if channel_id is not None:
        stmt = stmt.where(Message.channel_id == channel_id)
    if client_id is not None:
        stmt = stmt.where(Message.client_id == client_id)
    if message_id is not None:
        stmt = stmt.where(Message.id == message_id)
    count = 0
    for mid in list(session.scalars(stmt)):
        try:
            interrupt_message(session, company_id=company_id, message_id=mid)
        except Conflict:
            continue  # the sender claimed it meanwhile
        count += 1
    return count


def mark_bounced(session: Session, *, message: Message, reason: str) -> None:
    """A sent message came back (a delivery status notification): ``bounced``."""
    message.delivery_status = DeliveryStatus.BOUNCED.value
    message.error = reason
    record_status(session, message=message, status=DeliveryStatus.BOUNCED.value, detail=reason)
    session.flush()
    emit_message_event(session, message=message, type=EventType.OUTBOX_STATUS)
