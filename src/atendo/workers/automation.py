"""The automation loop: reacts to committed triggers (a client message, a close) and runs
the timed work (auto-close, menu timeout); see :mod:`atendo.core.automation.engine`.

Every step is one transaction that claims its trigger or due time with a conditional UPDATE
and writes the answers in the same commit: safe with any number of workers, no lease. The
answers go through the transport seam (``queue_reply`` with an ``autoreply`` message), so
each channel sends them its own way (e-mail: ``Auto-Submitted: auto-replied``, threading).
A menu item that reads its text from a URL is fetched before the transaction, through the
SSRF guard, with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from atendo.core.automation.engine import (
    Fetched,
    Say,
    claim_event,
    earlier_pending,
    item_to_fetch,
    pending_events,
    postpone_event,
    react,
    run_due_closes,
    run_due_menus,
)
from atendo.core.channels.models import Channel
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import MessageType
from atendo.core.messages.outgoing import OutgoingAttachment
from atendo.kit.guarded_fetch import FetchFailed, guarded_fetch
from atendo.kit.html import html_to_text
from atendo.kit.netguard import TargetRefused
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.base import Reply
from atendo.workers.runner import sleep_or_stop

log = logging.getLogger("atendo.automation")

POLL_SECONDS = 1.0
URL_TIMEOUT = 5.0
URL_MAX_BYTES = 64 * 1024
URL_MAX_TEXT = 4000


def sayer(session: Session, runtime: Runtime) -> Say:
    """``say`` bound to the transport seam: an automatic message in the dialog."""

    def say(
        dialog: Dialog,
        text: str,
        buttons: Sequence[str] = (),
        files: Sequence[OutgoingAttachment] = (),
    ) -> None:
        channel_transport = registry.get(_transport_of(session, dialog))
        channel_transport.queue_reply(
            session,
            runtime=runtime,
            company_id=dialog.company_id,
            dialog_id=dialog.id,
            reply=Reply(
                text=text,
                operator_id=None,
                type=MessageType.AUTOREPLY,
                buttons=tuple(buttons),
                attachments=tuple(files),
            ),
        )

    return say


class _Later(Exception):
    pass


def _transport_of(session: Session, dialog: Dialog) -> str:
    channel = session.get(Channel, dialog.channel_id)
    assert channel is not None
    return channel.transport


async def fetch_text(runtime: Runtime, url: str) -> str | None:
    """A menu item's text from its URL (plain text, or HTML made text); None on failure."""
    try:
        got = await guarded_fetch(
            url,
            allow_private=runtime.settings.webhooks_allow_private_networks,
            max_bytes=URL_MAX_BYTES,
            timeout=URL_TIMEOUT,
        )
    except (FetchFailed, TargetRefused, OSError) as exc:
        log.info("menu URL %s not fetched: %s", url, exc)
        return None
    text = got.data.decode("utf-8", "replace")
    if "html" in got.content_type.lower():
        text = html_to_text(text)
    return text.strip()[:URL_MAX_TEXT] or None


async def fetch_file(runtime: Runtime, url: str) -> OutgoingAttachment | None:
    """A menu item's reply file from its URL; None on failure (the reply goes without it)."""
    try:
        got = await guarded_fetch(
            url,
            allow_private=runtime.settings.webhooks_allow_private_networks,
            max_bytes=runtime.settings.max_attachment_bytes,
            timeout=URL_TIMEOUT,
        )
    except (FetchFailed, TargetRefused, OSError) as exc:
        log.info("menu file %s not fetched: %s", url, exc)
        return None
    name = PurePosixPath(urlsplit(got.url).path).name or "file"
    kind = got.content_type.split(";", 1)[0].strip() or "application/octet-stream"
    return OutgoingAttachment(filename=name[:200], content_type=kind, data=got.data)


async def handle_event(runtime: Runtime, event_id: int) -> bool:
    """One trigger; True when this worker handled it."""

    def preview() -> tuple[int, str | None, str | None] | None:
        with runtime.db.reading() as session:
            item = item_to_fetch(session, event_id=event_id)
            return (
                (item.id, item.url if item.url_enabled else None, item.image)
                if item is not None
                else None
            )

    wanted = await asyncio.to_thread(preview)
    fetched = Fetched()
    if wanted is not None:
        item_id, url, image = wanted
        text = await fetch_text(runtime, url) if url else None
        if text:
            fetched.texts[item_id] = text
        file = await fetch_file(runtime, image) if image else None
        if file is not None:
            fetched.files[item_id] = file

    def work() -> bool:
        try:
            with runtime.db.transaction() as session:
                event = claim_event(session, event_id=event_id)
                if event is None:
                    return False
                if earlier_pending(session, event=event):
                    raise _Later  # an earlier trigger of the dialog goes first: roll back
                react(session, event=event, say=sayer(session, runtime), fetched=fetched)
                return True
        except _Later:
            return False

    return await asyncio.to_thread(work)


async def automation_round(runtime: Runtime) -> int:
    """Pending triggers, then due closes and menu timeouts; how many things were done."""
    done = 0
    ids = await asyncio.to_thread(_pending, runtime)
    for event_id in ids:
        try:
            done += await handle_event(runtime, event_id)
        except Exception:
            log.exception("automation trigger %s failed", event_id)
            kept = await asyncio.to_thread(_postpone, runtime, event_id)
            if not kept:
                log.error("automation trigger %s dropped after failing for an hour", event_id)
    done += await asyncio.to_thread(_timed, runtime)
    return done


def _postpone(runtime: Runtime, event_id: int) -> bool:
    with runtime.db.transaction() as session:
        return postpone_event(session, event_id=event_id)


def _pending(runtime: Runtime) -> list[int]:
    with runtime.db.reading() as session:
        return pending_events(session)


def _timed(runtime: Runtime) -> int:
    with runtime.db.transaction() as session:
        closed = run_due_closes(session, say=sayer(session, runtime))
    with runtime.db.transaction() as session:
        timed_out = run_due_menus(session)
    return closed + timed_out


async def automation_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            count = await automation_round(runtime)
        except Exception:
            log.exception("automation round failed")
            count = 0
        if not count and await sleep_or_stop(stop, POLL_SECONDS):
            return
