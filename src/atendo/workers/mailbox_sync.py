"""The mailbox sync worker: one asyncio task per active e-mail channel, supervised.

The supervisor rescans ``active_channels`` every ``SCAN_INTERVAL`` seconds: it starts a task
for a new channel, cancels the task of a deleted/disabled one, and restarts the task of a
channel whose ``reconnect_requested`` flag is set (admin "reconnect", changed settings).

Each channel task runs :class:`~atendo.transports.email.imap_sync.MailboxSync` in a loop. On a
failure it records the reason in plain words (``mark_failure``: ``connecting`` while retrying,
``error`` after a few failures in a row) and retries after an exponential backoff capped at
``BACKOFF_MAX``; a successful sync marks it ``connected`` with ``last_sync``. A failing
mailbox only ever sleeps in its own task: the others never notice.

On PostgreSQL several worker processes may run: a channel is synced only by the holder of its
lease (``Channel.lease_owner``/``lease_until``, taken and renewed by one conditional UPDATE;
taken over once it expires). SQLite means one process, so no lease is needed there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import timedelta

from sqlalchemy import or_, update

import atendo.core.models  # noqa: F401 - every mapper, so relationships resolve in a bare worker
from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    active_channels,
    channel_secrets,
    mark_connected,
    mark_failure,
)
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.transports.email.connection import plain_reason
from atendo.transports.email.imap_sync import MailboxSync
from atendo.transports.email.settings import EmailChannelSettings
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.workers.mailbox_sync")

# Tunables (module-level so tests can shorten them; the environment can too).
SCAN_INTERVAL = float(os.environ.get("ATENDO_MAILBOX_SCAN_INTERVAL", "2"))
BACKOFF_START = float(os.environ.get("ATENDO_MAILBOX_BACKOFF_START", "2"))
BACKOFF_MAX = float(os.environ.get("ATENDO_MAILBOX_BACKOFF_MAX", "300"))
LEASE_SECONDS = float(os.environ.get("ATENDO_MAILBOX_LEASE_SECONDS", "60"))


def _take_lease(runtime: Runtime, channel_id: int) -> bool:
    if not runtime.db.is_postgres:
        return True
    now = utcnow()
    with runtime.db.transaction() as session:
        result = session.execute(
            update(Channel)
            .where(
                Channel.id == channel_id,
                or_(
                    Channel.lease_owner.is_(None),
                    Channel.lease_owner == runtime.worker_id,
                    Channel.lease_until < now,
                ),
            )
            .values(
                lease_owner=runtime.worker_id,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
            )
        )
        return bool(getattr(result, "rowcount", 0))


def _release_lease(runtime: Runtime, channel_id: int) -> None:
    if not runtime.db.is_postgres:
        return
    with runtime.db.transaction() as session:
        session.execute(
            update(Channel)
            .where(Channel.id == channel_id, Channel.lease_owner == runtime.worker_id)
            .values(lease_owner=None, lease_until=None)
        )


def _scan(runtime: Runtime) -> dict[int, bool]:
    """Active e-mail channel ids → reconnect requested (the flag is consumed here)."""
    with runtime.db.transaction() as session:
        out: dict[int, bool] = {}
        for channel in active_channels(session, transport="email"):
            out[channel.id] = channel.reconnect_requested
            if channel.reconnect_requested:
                channel.reconnect_requested = False
        return out


def _load(runtime: Runtime, channel_id: int) -> tuple[EmailChannelSettings, str]:
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        if channel is None:
            raise LookupError("channel gone")
        cfg = EmailChannelSettings.model_validate(channel.settings or {})
        return cfg, channel_secrets(channel, runtime.box).get("password", "")


def _record(runtime: Runtime, channel_id: int, reason: str | None) -> None:
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.deleted:
            return
        if reason is None:
            mark_connected(session, channel=channel)
        else:
            mark_failure(session, channel=channel, reason=reason)


async def run_channel(runtime: Runtime, channel_id: int) -> None:
    """Sync one mailbox forever: reconnect with exponential backoff on every failure."""
    delay = BACKOFF_START
    while True:
        if not await asyncio.to_thread(_take_lease, runtime, channel_id):
            await asyncio.sleep(min(LEASE_SECONDS, 10))
            continue
        try:
            cfg, password = await asyncio.to_thread(_load, runtime, channel_id)

            async def synced() -> None:
                nonlocal delay
                delay = BACKOFF_START
                await asyncio.to_thread(_take_lease, runtime, channel_id)
                await asyncio.to_thread(_record, runtime, channel_id, None)

            await MailboxSync(
                runtime, channel_id=channel_id, cfg=cfg, password=password, on_synced=synced
            ).run()
        except asyncio.CancelledError:
            raise
        except LookupError:
            return
        except Exception as exc:
            reason = plain_reason(exc)
            log.warning("mailbox of channel %s: %s; retrying in %.0f s", channel_id, reason, delay)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(_record, runtime, channel_id, reason)
        await asyncio.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX)


async def mailbox_sync_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    tasks: dict[int, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            try:
                wanted = await asyncio.to_thread(_scan, runtime)
            except Exception:
                log.exception("cannot list the mailboxes; retrying")
                wanted = {cid: False for cid in tasks}
            for cid in list(tasks):
                task = tasks[cid]
                if cid not in wanted or wanted[cid] or task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                    del tasks[cid]
                    if cid not in wanted:
                        await asyncio.to_thread(_release_lease, runtime, cid)
            for cid in wanted:
                if cid not in tasks:
                    tasks[cid] = asyncio.create_task(
                        run_channel(runtime, cid), name=f"atendo:mailbox:{cid}"
                    )
            await sleep_or_stop(stop, SCAN_INTERVAL)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for cid in tasks:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(_release_lease, runtime, cid)
