"""SMTP delivery: drains the e-mail outbox (``queued`` rows of e-mail channels whose ``send_at``
passed) and records each outcome through :mod:`atendo.core.messages.outbox`.

It is the e-mail transport's background loop ``smtp_delivery`` (see
:mod:`atendo.transports.email.transport`).

The pipeline::

    claim (one transaction, committed)     queued → sending, one conditional UPDATE for the batch
      │                                    (FOR UPDATE SKIP LOCKED on PostgreSQL)
      ▼
    build MIME from the stored rows        deterministic: same Message-ID on every attempt
      │                                    (in a thread, while earlier messages are on the wire)
      ▼
    SMTP, one transaction per message      a few sessions at once per channel, more in total;
      │                                    sessions are reused for the channel's next messages
      ▼
    record the outcome                     outcomes that arrive while a write is running are
      │                                    written together in the next one: one transaction
      │                                    and one query per table for the whole group (thread)
      ├─ accepted ─▶ ``sent`` + reply + refused recipients, committed
      │               └─▶ only then: copy to Sent (optional; a failure is only noted),
      │                   over the account's one reused IMAP session
      ├─ 4xx / network ─▶ back to ``queued``, ``send_at`` = now + the outbox's one retry
      │                   schedule, "retrying: …"; once it says give up: ``failed``
      └─ 5xx ─▶ ``failed`` with the server's words

Each claim sends a message at most once: the SMTP session retries nothing that may have
reached the server (see :class:`~atendo.transports.email.smtp_send.SmtpConnection`). Across
claims sends are AT-LEAST-ONCE: a sender that dies between the claim and the ``sent`` record
leaves the row in ``sending``; once its heartbeat lapses the surviving workers put it back in
the queue (``requeue_claims_of_lapsed_workers``, see :mod:`atendo.workers.heartbeat`; within
seconds), ``recover_stale_sending`` after ``stale_after`` as the last resort, and it is sent
again with its original Message-ID, which receivers use to deduplicate. Each claim takes at
most ``ceil(due / live workers)`` messages, so that workers share a burst evenly.
Time comes from :func:`atendo.kit.clock.utcnow` (tests move it with
``set_clock``); the retry schedule and the tick are fields of :class:`SmtpDeliveryConfig`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import channel_secrets
from atendo.core.enums import DeliveryStatus
from atendo.core.leases.service import LeaseTimes, live_workers
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outbox import (
    RETRY,
    Accepted,
    Outcome,
    PermanentFailure,
    RetrySchedule,
    claim_due_batch,
    fair_claim_limit,
    record_outcomes,
    recover_stale_sending,
)
from atendo.core.messages.service import attachments_of, record_status
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.transports.email.compose import build_mime
from atendo.transports.email.network import MailNetwork, send_limits
from atendo.transports.email.oauth_tokens import oauth_token
from atendo.transports.email.sent_copy import ImapAccount, SentFolderSessions
from atendo.transports.email.smtp_send import SmtpAccount, SmtpPool

log = logging.getLogger("atendo.email.delivery")

TRANSPORT = "email"


@dataclass
class SmtpDeliveryConfig:
    retry: RetrySchedule = RETRY
    tick: float = 1.0
    batch: int = 200
    per_channel: int = 4
    total: int = 32
    stale_after: timedelta = timedelta(minutes=10)
    recover_every: timedelta = timedelta(minutes=1)
    smtp_timeout: float = 30.0
    # An SMTP session carries at most this many messages, and is closed after this many
    # seconds unused (servers drop idle clients after a minute or more).
    messages_per_session: int = 100
    session_idle: float = 20.0
    # Idle SMTP sessions kept open at most, over every account (the oldest is closed first).
    max_idle_sessions: int = 64
    # Outcomes wait this long for others to be recorded with them in one transaction.
    record_linger: float = 0.05


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
class SmtpDelivery:
    runtime: Runtime
    config: SmtpDeliveryConfig = field(default_factory=SmtpDeliveryConfig)
    worker_id: str = ""
    _channel_slots: dict[int, asyncio.Semaphore] = field(default_factory=dict)
    _last_recover: Any = None
    # Our own writes (claims, outcomes, notes) take turns: on SQLite, concurrent writers
    # would otherwise meet in SQLite's busy handler, which sleeps in steps of milliseconds.
    _write_lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: SmtpPool = field(init=False)
    _sent: SentFolderSessions = field(init=False)
    _outcomes: GroupWriter = field(init=False)

    def __post_init__(self) -> None:
        if not self.worker_id:
            # The worker's own id (its heartbeat row): what a surviving worker requeues by.
            self.worker_id = self.runtime.worker_id or f"smtp:{uuid.uuid4().hex[:8]}"
        self._pool = SmtpPool(
            max_messages=self.config.messages_per_session,
            idle_after=self.config.session_idle,
            max_idle=self.config.max_idle_sessions,
        )
        self._sent = SentFolderSessions(idle_after=self.config.session_idle)
        self._outcomes = GroupWriter(
            self.record_many, linger=self.config.record_linger, most=self.config.batch
        )

    @property
    def smtp_sessions(self) -> int:
        """How many SMTP sessions this sender has opened so far."""
        return self._pool.sessions

    @property
    def sent_copy_logins(self) -> int:
        """How many IMAP logins the copies to Sent have taken so far."""
        return self._sent.logins

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """The loop: claims the next batch while less than a batch is still to go on the
        wire, so the claim and the MIME building overlap with SMTP; what was sent is recorded
        on the side (``finishing``) without holding up the next claim, within a bound."""
        changed = asyncio.Event()
        sending, finishing = TaskSet(changed), TaskSet(changed)
        total = asyncio.Semaphore(self.config.total)
        try:
            while not stop.is_set():
                claimed = 0
                room = len(sending) < self.config.batch and len(finishing) < 2 * self.config.batch
                if room:
                    try:
                        claimed = await self._claim_and_start(sending, finishing, total)
                    except Exception:
                        log.exception("send tick failed")
                changed.clear()  # a task still running sets it again when it ends
                if (sending or finishing) and (claimed or not room):
                    await changed.wait()
                elif not claimed:
                    await self._pool.close_idle()
                    await self._sent.close_idle()
                    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, changed)]
                    _, pending = await asyncio.wait(
                        waiters, timeout=self.config.tick, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiter in pending:
                        waiter.cancel()
        finally:
            await sending.finish()
            await finishing.finish()
            await self._pool.close()
            await self._sent.close()

    async def _claim_and_start(
        self, sending: TaskSet, finishing: TaskSet, total: asyncio.Semaphore
    ) -> int:
        now = utcnow()
        if self._last_recover is None or now - self._last_recover >= self.config.recover_every:
            self._last_recover = now
            await asyncio.to_thread(self.recover)
        ids = await asyncio.to_thread(self.claim)
        if not ids:
            return 0
        for job in await asyncio.to_thread(self.prepare_many, ids):
            if isinstance(job, Job):
                sending.start(self._send_and_hand_over(job, total, finishing))
        return len(ids)

    async def _send_and_hand_over(
        self, job: Job, total: asyncio.Semaphore, finishing: TaskSet
    ) -> None:
        outcome = await self._send(job, total)
        finishing.start(self._finish(job, outcome))

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
        """Send messages this sender has claimed (bounded concurrency), then close the SMTP
        sessions: a caller ticking by hand may not come back for a long time."""
        if not ids:
            return
        jobs = await asyncio.to_thread(self.prepare_many, ids)
        total = asyncio.Semaphore(self.config.total)
        try:
            await asyncio.gather(*(self._deliver(job, total) for job in jobs))
        finally:
            await self._pool.close()
            await self._sent.close()

    def recover(self) -> list[int]:
        with self._write_lock, self.runtime.db.transaction() as session:
            ids = recover_stale_sending(session, older_than=self.config.stale_after)
        if ids:
            log.warning("re-queued %d message(s) left in sending: %s", len(ids), ids)
        return ids

    def claim(self) -> list[int]:
        with self._write_lock, self.runtime.db.transaction() as session:
            live = 1
            if self.runtime.db.is_postgres:
                lapse = LeaseTimes.from_lease(self.runtime.settings.worker_lease_seconds).lapse
                live = len(live_workers(session, lapse=lapse))
            limit = fair_claim_limit(
                session, most=self.config.batch, live_workers=live, transport=TRANSPORT
            )
            return claim_due_batch(
                session,
                worker_id=self.worker_id,
                limit=limit,
                transport=TRANSPORT,
                send_limits=send_limits(self.runtime.settings),
            )

    # --- one message ---------------------------------------------------------------------

    async def _deliver(self, job: Job | PermanentFailure, total: asyncio.Semaphore) -> None:
        if isinstance(job, Job):
            await self._finish(job, await self._send(job, total))

    async def _send(self, job: Job, total: asyncio.Semaphore) -> Outcome:
        slot = self._channel_slots.setdefault(
            job.channel_id, asyncio.Semaphore(self.config.per_channel)
        )
        async with total, slot:
            return await self._pool.send(
                job.account, mail_from=job.mail_from, recipients=job.recipients, raw=job.raw
            )

    async def _finish(self, job: Job, outcome: Outcome) -> None:
        """Record the outcome (with others: see :class:`GroupWriter`); once ``sent`` is
        committed, and only then, the optional copy to Sent."""
        await self._outcomes.write(job.message_id, outcome)
        if isinstance(outcome, Accepted) and job.copy_to is not None:
            try:
                await self.copy_to_sent(job)
            except Exception:
                log.exception("cannot note the copy to Sent of message %s", job.message_id)

    def prepare_many(self, ids: Sequence[int]) -> list[Job | PermanentFailure]:
        """Build every claimed message's bytes in one read session; a message that cannot be
        built fails alone (recorded here) without holding up the others."""
        out: list[Job | PermanentFailure] = []
        failed: list[tuple[int, Outcome]] = []
        with self.runtime.db.reading() as session:
            messages = session.scalars(
                select(Message).where(Message.id.in_(ids)).order_by(Message.id)
            ).all()
            all_atts: dict[int, list[Attachment]] = {}
            for company_id in {m.company_id for m in messages}:
                mine = [m.id for m in messages if m.company_id == company_id]
                all_atts.update(attachments_of(session, mine, company_id=company_id))
            channels: dict[int, tuple[Channel, dict[str, str]]] = {}
            for message in messages:
                try:
                    job = self._prepare(session, message, all_atts, channels)
                except Exception as exc:
                    log.exception("cannot build message %s", message.id)
                    failure = PermanentFailure(f"cannot build the message: {exc}")
                    failed.append((message.id, failure))
                    out.append(failure)
                    continue
                if job is not None:
                    out.append(job)
        if failed:
            self.record_many(failed)
        return out

    def prepare(self, message_id: int) -> Job | None:
        with self.runtime.db.reading() as session:
            message = session.get(Message, message_id)
            if message is None:
                return None
            atts = attachments_of(session, [message_id], company_id=message.company_id)
            return self._prepare(session, message, atts, {})

    def _prepare(
        self,
        session: Session,
        message: Message,
        all_atts: dict[int, list[Attachment]],
        channels: dict[int, tuple[Channel, dict[str, str]]],
    ) -> Job | None:
        if message.delivery_status != DeliveryStatus.SENDING:
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
        # Bcc is on the envelope only: build_mime writes no Bcc header.
        recipients = list(
            dict.fromkeys([*(message.to or []), *(message.cc or []), *(message.bcc or [])])
        )
        network = MailNetwork.from_settings(self.runtime.settings)
        token = oauth_token(
            self.runtime, company_id=channel.company_id, channel_id=channel.id, settings=settings
        )  # an OAuth mailbox: XOAUTH2
        copy = (
            ImapAccount.from_settings(settings, secrets, network=network, token=token)
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
            account=SmtpAccount.from_settings(
                settings, secrets, timeout=self.config.smtp_timeout, network=network, token=token
            ),
            copy_to=copy,
        )

    def record(self, message_id: int, outcome: Outcome) -> None:
        """Write one outcome in its own transaction (only if the row is still ours)."""
        self.record_many([(message_id, outcome)])

    def record_many(self, outcomes: Sequence[tuple[int, Outcome]]) -> None:
        """Write outcomes in one transaction; when that fails, each alone, so that one bad
        row never holds up the others. Never raises: an outcome that cannot be written leaves
        its message in ``sending``, and recovery sends it again (same Message-ID)."""
        try:
            self._record_group(outcomes)
            return
        except Exception:
            log.exception("recording %d outcome(s) failed", len(outcomes))
        if len(outcomes) > 1:
            for one in outcomes:
                try:
                    self._record_group([one])
                except Exception:
                    log.exception("cannot record the outcome of message %s", one[0])

    def _record_group(self, outcomes: Sequence[tuple[int, Outcome]]) -> None:
        with self._write_lock, self.runtime.db.transaction() as session:
            record_outcomes(session, outcomes, schedule=self.config.retry)

    async def copy_to_sent(self, job: Job) -> None:
        assert job.copy_to is not None
        try:
            folder = await self._sent.append(job.copy_to, job.raw)
            detail = f"copied to {folder}"
        except Exception as exc:
            log.warning("copy to Sent failed for message %s: %s", job.message_id, exc)
            detail = f"copy to Sent failed: {type(exc).__name__}: {exc}"
        await asyncio.to_thread(self._note, job.message_id, detail)

    def _note(self, message_id: int, detail: str) -> None:
        with self._write_lock, self.runtime.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is not None:
                record_status(session, message=message, status=DeliveryStatus.SENT, detail=detail)


class GroupWriter:
    """Writes outcomes in groups, in a thread so that the event loop keeps sending: a write
    waits up to ``linger`` seconds for company (or until ``most`` are waiting), and what
    arrives while it runs goes into the next one. A transaction's fixed cost dwarfs a row's,
    so a few milliseconds of waiting buy many fewer transactions. :meth:`write` returns once
    its outcome is committed, which is what lets the caller do the optional steps after it."""

    def __init__(
        self,
        write_many: Callable[[Sequence[tuple[int, Outcome]]], None],
        *,
        linger: float = 0.0,
        most: int = 500,
    ) -> None:
        self._write_many = write_many
        self._linger = linger
        self._most = most
        self._pending: list[tuple[int, Outcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def write(self, message_id: int, outcome: Outcome) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((message_id, outcome, done))
        if self._writer is None or self._writer.done():
            self._full = asyncio.Event()  # of this event loop (a sender may outlive one)
            self._writer = asyncio.create_task(self._drain())
        if len(self._pending) >= self._most:
            self._full.set()
        await done

    async def _drain(self) -> None:
        while self._pending:
            if self._linger > 0 and len(self._pending) < self._most:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._linger)
            self._full.clear()
            group, self._pending = self._pending[: self._most], self._pending[self._most :]
            try:
                await asyncio.to_thread(self._write_many, [(m, o) for m, o, _ in group])
            except asyncio.CancelledError:
                for *_, done in [*group, *self._pending]:
                    done.cancel()
                raise
            except Exception as exc:
                for *_, done in group:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for *_, done in group:
                    if not done.done():
                        done.set_result(None)


class TaskSet:
    """Tasks kept until they end; ``changed`` is set each time one does. Waiting on that one
    event is cheaper than ``asyncio.wait`` over hundreds of tasks, which hooks a callback onto
    every one of them (and takes it off again) on every call."""

    def __init__(self, changed: asyncio.Event) -> None:
        self.changed = changed
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.changed.set()

    async def finish(self) -> None:
        """Wait for every task (they log their own failures)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def smtp_delivery_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """The e-mail transport's background loop: one :class:`SmtpDelivery` for this process."""
    config = SmtpDeliveryConfig(tick=runtime.settings.worker_tick)
    await SmtpDelivery(runtime, config).run(stop)
