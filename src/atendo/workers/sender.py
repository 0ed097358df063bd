"""The e-mail sender: drains the outbox (message rows in ``queued`` whose ``send_at`` passed).

One tick::

    claim (one transaction, committed)     queued → sending, each row by a conditional UPDATE
      │                                    (FOR UPDATE SKIP LOCKED on PostgreSQL)
      ▼
    build MIME from the stored row         deterministic: same Message-ID on every attempt
      │
      ▼
    SMTP, one transaction per message      bounded: a few at once per channel, more in total
      │
      ├─ accepted ─▶ record ``sent`` + reply + refused recipients   (its own transaction,
      │               │                                              BEFORE anything optional)
      │               └─▶ copy to Sent (optional; a failure is only noted in the history)
      ├─ 4xx / network ─▶ back to ``queued``, ``send_at`` = now + backoff, "retrying: …";
      │                   after ``give_up_after`` since the message was written: ``failed``
      └─ 5xx ─▶ ``failed`` with the server's words

Sends are AT-LEAST-ONCE: a sender that dies between the claim and the ``sent`` record leaves
the row in ``sending``; ``recover_stale_sending`` puts it back in the queue after
``stale_after`` and it is sent again with its original Message-ID, which receivers use to
deduplicate. Time comes from :func:`atendo.kit.clock.utcnow` (tests move it with
``set_clock``); the backoff schedule and the tick are fields of :class:`SenderConfig`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from atendo.channels.email.compose import build_mime
from atendo.channels.email.sent_copy import ImapAccount, append_to_sent
from atendo.channels.email.smtp_send import (
    Accepted,
    Outcome,
    PermanentFailure,
    SmtpAccount,
    TemporaryFailure,
    send_raw,
)
from atendo.core.channels.models import Channel
from atendo.core.channels.service import channel_secrets
from atendo.core.enums import DeliveryStatus, EventType
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.service import (
    attachments_of,
    claim_due_batch,
    emit_message_event,
    record_status,
    recover_stale_sending,
)
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime

log = logging.getLogger("atendo.sender")

DEFAULT_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)


@dataclass
class SenderConfig:
    backoff: Sequence[timedelta] = DEFAULT_BACKOFF
    then_every: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=24)
    tick: float = 1.0
    batch: int = 200
    per_channel: int = 4
    total: int = 32
    stale_after: timedelta = timedelta(minutes=10)
    recover_every: timedelta = timedelta(minutes=1)
    smtp_timeout: float = 30.0


@dataclass
class Job:
    message_id: int
    company_id: int
    channel_id: int
    mail_from: str
    recipients: list[str]
    raw: bytes
    account: SmtpAccount
    copy_to: ImapAccount | None = None


@dataclass
class Sender:
    runtime: Runtime
    config: SenderConfig = field(default_factory=SenderConfig)
    worker_id: str = ""
    _channel_slots: dict[int, asyncio.Semaphore] = field(default_factory=dict)
    _last_recover: Any = None
    # Our own writes take turns: on SQLite, concurrent writers would otherwise meet in
    # SQLite's busy handler, which sleeps in steps of milliseconds.
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.worker_id:
            base = self.runtime.worker_id or "sender"
            self.worker_id = f"{base}:{uuid.uuid4().hex[:8]}"

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """The loop: keeps claiming while earlier messages are still on the wire, so the
        claim and the MIME building of the next batch overlap with the SMTP of this one."""
        inflight: set[asyncio.Task[None]] = set()
        total = asyncio.Semaphore(self.config.total)
        try:
            while not stop.is_set():
                claimed = 0
                if len(inflight) < max(1, self.config.batch // 2):
                    try:
                        claimed = await self._claim_and_start(inflight, total)
                    except Exception:
                        log.exception("send tick failed")
                if inflight and (claimed or len(inflight) >= max(1, self.config.batch // 2)):
                    await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                elif not claimed:
                    waiting = [asyncio.ensure_future(stop.wait()), *inflight]
                    done, _ = await asyncio.wait(
                        waiting, timeout=self.config.tick, return_when=asyncio.FIRST_COMPLETED
                    )
                    if waiting[0] not in done:
                        waiting[0].cancel()
        finally:
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)

    async def _claim_and_start(
        self, inflight: set[asyncio.Task[None]], total: asyncio.Semaphore
    ) -> int:
        now = utcnow()
        if self._last_recover is None or now - self._last_recover >= self.config.recover_every:
            self._last_recover = now
            await asyncio.to_thread(self.recover)
        ids = await asyncio.to_thread(self.claim)
        if not ids:
            return 0
        for job in await asyncio.to_thread(self.prepare_many, ids):
            task = asyncio.create_task(self._deliver(job, total))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        return len(ids)

    async def run_once(self) -> int:
        """Recover stale claims when due, claim what is due, send it all; returns how many."""
        now = utcnow()
        if self._last_recover is None or now - self._last_recover >= self.config.recover_every:
            self._last_recover = now
            await asyncio.to_thread(self.recover)
        ids = await asyncio.to_thread(self.claim)
        await self.deliver(ids)
        return len(ids)

    async def deliver(self, ids: Sequence[int]) -> None:
        """Send messages this sender has claimed (bounded concurrency)."""
        if not ids:
            return
        jobs = await asyncio.to_thread(self.prepare_many, ids)
        total = asyncio.Semaphore(self.config.total)
        await asyncio.gather(*(self._deliver(job, total) for job in jobs))

    def recover(self) -> list[int]:
        with self.runtime.db.transaction() as session:
            ids = recover_stale_sending(session, older_than=self.config.stale_after)
        if ids:
            log.warning("re-queued %d message(s) left in sending: %s", len(ids), ids)
        return ids

    def claim(self) -> list[int]:
        with self.runtime.db.transaction() as session:
            return claim_due_batch(
                session, worker_id=self.worker_id, limit=self.config.batch, transport="email"
            )

    # --- one message ---------------------------------------------------------------------

    async def _deliver(self, job: Job | PermanentFailure, total: asyncio.Semaphore) -> None:
        if isinstance(job, PermanentFailure):
            return
        slot = self._channel_slots.setdefault(
            job.channel_id, asyncio.Semaphore(self.config.per_channel)
        )
        async with total, slot:
            outcome = await send_raw(
                job.account, mail_from=job.mail_from, recipients=job.recipients, raw=job.raw
            )
        # Inline, not in a thread: a few milliseconds of blocking beat the GIL hand-offs a
        # thread costs per message (measured with bench/send.py).
        self.record(job.message_id, outcome)
        if isinstance(outcome, Accepted) and job.copy_to is not None:
            await self.copy_to_sent(job)

    def prepare_many(self, ids: Sequence[int]) -> list[Job | PermanentFailure]:
        """Build every claimed message's bytes in one read session; a message that cannot be
        built fails alone (recorded here) without holding up the others."""
        out: list[Job | PermanentFailure] = []
        failed: list[tuple[int, PermanentFailure]] = []
        with self.runtime.db.reading() as session:
            all_atts = attachments_of(session, list(ids))
            channels: dict[int, tuple[Channel, dict[str, str]]] = {}
            for message_id in ids:
                try:
                    job = self._prepare(session, message_id, all_atts, channels)
                except Exception as exc:
                    log.exception("cannot build message %s", message_id)
                    failure = PermanentFailure(f"cannot build the message: {exc}")
                    failed.append((message_id, failure))
                    out.append(failure)
                    continue
                if job is not None:
                    out.append(job)
        for message_id, failure in failed:
            self.record(message_id, failure)
        return out

    def prepare(self, message_id: int) -> Job | None:
        with self.runtime.db.reading() as session:
            atts = attachments_of(session, [message_id])
            return self._prepare(session, message_id, atts, {})

    def _prepare(
        self,
        session: Session,
        message_id: int,
        all_atts: dict[int, list[Attachment]],
        channels: dict[int, tuple[Channel, dict[str, str]]],
    ) -> Job | None:
        message = session.get(Message, message_id)
        if message is None or message.delivery_status != DeliveryStatus.SENDING:
            return None
        if message.channel_id not in channels:
            found = session.get(Channel, message.channel_id)
            if found is None:
                return None
            channels[found.id] = (found, channel_secrets(found, self.runtime.box))
        channel, secrets = channels[message.channel_id]
        settings = dict(channel.settings or {})
        pairs = [(a, self.runtime.blobs.get(a.blob_sha)) for a in all_atts.get(message.id, [])]
        raw = build_mime(message, channel=channel, attachments=pairs)
        recipients = list(dict.fromkeys([*(message.to or []), *(message.cc or [])]))
        copy = (
            ImapAccount.from_settings(settings, secrets)
            if settings.get("copy_to_sent") and settings.get("imap_host")
            else None
        )
        return Job(
            message_id=message.id,
            company_id=message.company_id,
            channel_id=channel.id,
            mail_from=message.from_email or str(settings.get("email") or ""),
            recipients=recipients,
            raw=raw,
            account=SmtpAccount.from_settings(settings, secrets, timeout=self.config.smtp_timeout),
            copy_to=copy,
        )

    def next_attempt(self, message: Message) -> timedelta | None:
        """The wait before the next attempt, or None when it is time to give up."""
        n = max(1, message.attempts or 1)
        schedule = list(self.config.backoff)
        delay = schedule[n - 1] if n <= len(schedule) else self.config.then_every
        if utcnow() + delay - message.created > self.config.give_up_after:
            return None
        return delay

    def record(self, message_id: int, outcome: Outcome) -> None:
        """Write the outcome in its own transaction (only if the row is still ours)."""
        with self._write_lock, self.runtime.db.transaction() as session:
            # Row-locked (PostgreSQL; SQLite's write transaction is exclusive already), so the
            # check below and the write cannot be split by a concurrent recovery.
            message = session.get(Message, message_id, with_for_update=True)
            if message is None or message.delivery_status != DeliveryStatus.SENDING:
                return
            now = utcnow()
            values: dict[str, Any]
            if isinstance(outcome, Accepted):
                values = {
                    "delivery_status": DeliveryStatus.SENT.value,
                    "sent_at": now,
                    "smtp_reply": outcome.reply,
                    "error": None,
                    "recipient_errors": dict(outcome.refused),
                }
                detail = outcome.reply
                if outcome.refused:
                    detail += "; refused: " + "; ".join(
                        f"{r}: {w}" for r, w in outcome.refused.items()
                    )
                status = DeliveryStatus.SENT
            elif isinstance(outcome, TemporaryFailure):
                delay = self.next_attempt(message)
                if delay is None:
                    status = DeliveryStatus.FAILED
                    detail = f"gave up after {message.attempts} attempts: {outcome.reason}"
                    values = {"delivery_status": status.value, "error": detail}
                else:
                    status = DeliveryStatus.QUEUED
                    detail = f"retrying: {outcome.reason}"
                    values = {
                        "delivery_status": status.value,
                        "send_at": now + delay,
                        "error": detail,
                        "claimed_by": None,
                    }
            else:
                status = DeliveryStatus.FAILED
                detail = outcome.reason
                values = {
                    "delivery_status": status.value,
                    "error": outcome.reason,
                    "recipient_errors": dict(outcome.refused),
                }
            for key, value in values.items():
                setattr(message, key, value)
            session.flush()
            record_status(session, message=message, status=status, detail=detail)
            if status != DeliveryStatus.QUEUED:
                emit_message_event(session, message=message, type=EventType.OUTBOX_STATUS)

    async def copy_to_sent(self, job: Job) -> None:
        assert job.copy_to is not None
        try:
            folder = await append_to_sent(job.copy_to, job.raw)
            detail = f"copied to {folder}"
        except Exception as exc:
            log.warning("copy to Sent failed for message %s: %s", job.message_id, exc)
            detail = f"copy to Sent failed: {type(exc).__name__}: {exc}"
        with self.runtime.db.transaction() as session:
            message = session.get(Message, job.message_id)
            if message is not None:
                record_status(session, message=message, status=DeliveryStatus.SENT, detail=detail)


async def sender_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """The registered worker loop: one :class:`Sender` for this process."""
    config = SenderConfig(tick=runtime.settings.worker_tick)
    await Sender(runtime, config).run(stop)
