"""Channels: a company's accounts on each transport, their status and signatures.

Transport-specific settings are validated by the transport (``atendo.transports``); this module
stores them, encrypts the secrets, and owns the status machine::

    connecting ──ok──▶ connected ──failure──▶ connecting (retrying, backoff)
         ▲                                        │ repeated failures
         └────────── reconnect / success ─────────┴──▶ error (last_error, error_since)
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel, OperatorSignature
from atendo.core.enums import ChannelStatus, EventType
from atendo.core.errors import NotFound
from atendo.core.events.service import emit
from atendo.kit.clock import utcnow
from atendo.kit.crypto import SecretBox
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page
from atendo.kit.wake import channel_changed

# After this many consecutive failures a channel shows ``error`` instead of ``connecting``.
FAILURES_BEFORE_ERROR = 3


def get_channel(
    session: Session, *, company_id: int, channel_id: int, include_deleted: bool = False
) -> Channel:
    """The company's channel; a deleted one only with ``include_deleted`` (its dialogs stay
    readable)."""
    channel = get_scoped(session, Channel, channel_id, company_id=company_id)
    if channel is None or (channel.deleted and not include_deleted):
        raise NotFound()
    return channel


def list_channels(
    session: Session, *, company_id: int, page: Page | None = None, transport: str | None = None
) -> tuple[list[Channel], int]:
    stmt = select(Channel).where(Channel.company_id == company_id, Channel.deleted.is_(False))
    if transport:
        stmt = stmt.where(Channel.transport == transport)
    rows = list(session.scalars(stmt.order_by(Channel.id)))
    total = len(rows)
    if page is not None:
        rows = rows[page.offset : page.offset + page.limit]
    return rows, total


def active_channels(session: Session, *, transport: str) -> list[Channel]:
    """Every company's live channels of a transport (the workers' view)."""
    stmt = select(Channel).where(
        Channel.transport == transport,
        Channel.deleted.is_(False),
        Channel.status != ChannelStatus.DISABLED,
    )
    return list(session.scalars(stmt.order_by(Channel.id)))


def create_channel(
    session: Session,
    *,
    company_id: int,
    transport: str,
    name: str,
    settings: dict[str, Any],
    secrets: dict[str, str],
    box: SecretBox,
    write_first: bool = True,
    status: ChannelStatus = ChannelStatus.CONNECTING,
) -> Channel:
    channel = Channel(
        company_id=company_id,
        transport=transport,
        name=name,
        settings=settings,
        secrets=box.encrypt(json.dumps(secrets)) if secrets else "",
        write_first=write_first,
        status=status.value,
    )
    session.add(channel)
    session.flush()
    channel_changed(session, channel.id)  # its worker starts syncing it at once
    return channel


def channel_secrets(channel: Channel, box: SecretBox) -> dict[str, str]:
    if not channel.secrets:
        return {}
    data = json.loads(box.decrypt(channel.secrets))
    return {str(k): str(v) for k, v in data.items()}


def update_channel(
    session: Session,
    *,
    channel: Channel,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    box: SecretBox | None = None,
    write_first: bool | None = None,
) -> Channel:
    if name is not None:
        channel.name = name
    if settings is not None:
        channel.settings = dict(settings)
    if secrets is not None and box is not None:
        merged = {**channel_secrets(channel, box), **{k: v for k, v in secrets.items() if v}}
        channel.secrets = box.encrypt(json.dumps(merged))
    if write_first is not None:
        channel.write_first = write_first
    session.flush()
    return channel


def forget_secrets(session: Session, *, channel: Channel, keys: set[str], box: SecretBox) -> None:
    """Drop secrets that can no longer serve (a refresh token the provider revoked), so that
    nothing keeps presenting them; connecting the channel again stores new ones."""
    kept = {k: v for k, v in channel_secrets(channel, box).items() if k not in keys}
    channel.secrets = box.encrypt(json.dumps(kept))
    session.flush()


def delete_channel(session: Session, *, company_id: int, channel_id: int) -> None:
    """Soft delete: its dialogs and messages stay readable; the workers stop syncing it."""
    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    channel.deleted = True
    channel.status = ChannelStatus.DISABLED.value
    session.flush()
    channel_changed(session, channel.id)


def _emit_status(session: Session, channel: Channel) -> None:
    emit(
        session,
        company_id=channel.company_id,
        type=EventType.CHANNEL_STATUS,
        payload={
            "channel_id": channel.id,
            "status": channel.status,
            "last_error": channel.last_error,
        },
        channel_id=channel.id,
    )


def mark_connected(session: Session, *, channel: Channel, synced: bool = True) -> None:
    """The mailbox answered. A channel whose sending is held stays in ``error`` with its
    reason: receiving works, sending does not, until :func:`release_sending`."""
    if channel.send_held:
        if synced:
            channel.last_sync = utcnow()
        session.flush()
        return
    changed = channel.status != ChannelStatus.CONNECTED
    channel.status = ChannelStatus.CONNECTED.value
    channel.last_error = None
    channel.error_since = None
    channel.failures = 0
    if synced:
        channel.last_sync = utcnow()
    session.flush()
    if changed:
        _emit_status(session, channel)


def mark_failure(session: Session, *, channel: Channel, reason: str) -> None:
    """Count a failure; after a few in a row the channel shows ``error`` with the reason."""
    before = channel.status
    channel.failures = (channel.failures or 0) + 1
    channel.last_error = reason
    if channel.error_since is None:
        channel.error_since = utcnow()
    if channel.failures >= FAILURES_BEFORE_ERROR:
        channel.status = ChannelStatus.ERROR.value
    elif channel.status == ChannelStatus.CONNECTED:
        channel.status = ChannelStatus.CONNECTING.value
    session.flush()
    if channel.status != before:
        _emit_status(session, channel)


def disable_channel(session: Session, *, company_id: int, channel_id: int) -> Channel:
    """Stop syncing and sending; its dialogs stay readable; it starts no new chats."""
    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    if channel.status != ChannelStatus.DISABLED:
        channel.status = ChannelStatus.DISABLED.value
        session.flush()
        _emit_status(session, channel)
    return channel


def enable_channel(session: Session, *, company_id: int, channel_id: int) -> Channel:
    """Back to work: the workers connect it again."""
    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    if channel.status == ChannelStatus.DISABLED and not channel.deleted:
        channel.status = ChannelStatus.CONNECTING.value
        channel.failures = 0
        channel.reconnect_requested = True
        session.flush()
        _emit_status(session, channel)
    return channel


def hold_sending(session: Session, *, channel_id: int, reason: str) -> None:
    """The sending server refused the channel's login: the channel shows ``error`` with the
    reason, and its queued messages wait (still interruptible) instead of spending their
    retries, until the admin fixes or reconnects it (:func:`release_sending`)."""
    channel = session.get(Channel, channel_id)
    if channel is None:
        return
    changed = channel.status != ChannelStatus.ERROR or not channel.send_held
    channel.send_held = True
    channel.status = ChannelStatus.ERROR.value
    channel.last_error = reason
    if channel.error_since is None:
        channel.error_since = utcnow()
    session.flush()
    if changed:
        _emit_status(session, channel)


def release_sending(session: Session, *, channel: Channel) -> None:
    """The channel was fixed (settings tested and saved) or reconnected: its held messages
    go out again."""
    channel.send_held = False
    session.flush()


def request_reconnect(session: Session, *, company_id: int, channel_id: int) -> Channel:
    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    release_sending(session, channel=channel)
    channel.reconnect_requested = True
    if channel.status == ChannelStatus.ERROR:
        channel.status = ChannelStatus.CONNECTING.value
    channel.failures = 0
    session.flush()
    channel_changed(session, channel.id)
    _emit_status(session, channel)
    return channel


# --- signatures ------------------------------------------------------------------------


def get_signatures(session: Session, *, channel: Channel) -> dict[str, Any]:
    rows = session.scalars(
        select(OperatorSignature).where(
            OperatorSignature.company_id == channel.company_id,
            OperatorSignature.channel_id == channel.id,
        )
    )
    return {
        "operators_enabled": channel.signatures_operators_enabled,
        "general_enabled": channel.signatures_general_enabled,
        "general": channel.signature_general,
        "operators": {str(r.operator_id): r.text for r in rows if r.text},
    }


def set_operator_signature(
    session: Session, *, channel: Channel, operator_id: int, text: str
) -> None:
    row = session.scalar(
        select(OperatorSignature).where(
            OperatorSignature.company_id == channel.company_id,
            OperatorSignature.channel_id == channel.id,
            OperatorSignature.operator_id == operator_id,
        )
    )
    if row is None:
        row = OperatorSignature(
            company_id=channel.company_id, channel_id=channel.id, operator_id=operator_id
        )
        session.add(row)
    row.text = text
    session.flush()


def operator_signature(
    session: Session, *, company_id: int, channel_id: int, operator_id: int
) -> str:
    return (
        session.scalar(
            select(OperatorSignature.text).where(
                OperatorSignature.company_id == company_id,
                OperatorSignature.channel_id == channel_id,
                OperatorSignature.operator_id == operator_id,
            )
        )
        or ""
    )


def effective_signature_template(
    session: Session, *, channel: Channel, operator_id: int | None
) -> str:
    """The operator's signature when enabled and present, else the general one when enabled."""
    if channel.signatures_operators_enabled and operator_id is not None:
        text = operator_signature(
            session,
            company_id=channel.company_id,
            channel_id=channel.id,
            operator_id=operator_id,
        )
        if text.strip():
            return text
    if channel.signatures_general_enabled and channel.signature_general.strip():
        return channel.signature_general
    return ""


def set_channel_group(
    session: Session, *, company_id: int, channel_id: int, group_id: int | None
) -> Channel:
    """The group the channel's new chats are routed to (None: every operator)."""
    from atendo.core.operators.service import get_group

    channel = get_channel(session, company_id=company_id, channel_id=channel_id)
    if group_id is not None:
        get_group(session, company_id=company_id, group_id=group_id)
    channel.group_id = group_id
    session.flush()
    return channel
