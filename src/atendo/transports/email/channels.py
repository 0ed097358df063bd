"""Connecting and changing an e-mail channel: the one path the API and the panel both use.

Saving always tests the connection for real first (IMAP login + SELECT INBOX, SMTP EHLO +
AUTH); on failure nothing is written and ``Invalid("Connection failed")`` carries one plain
reason per side (``errors={"imap": [...], "smtp": [...]}``).
"""

from __future__ import annotations

from typing import Any

from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    channel_secrets,
    create_channel,
    get_channel,
    release_sending,
    update_channel,
)
from atendo.core.enums import ChannelStatus
from atendo.core.errors import Invalid
from atendo.kit.clock import iso
from atendo.kit.wake import channel_changed
from atendo.runtime import Runtime
from atendo.transports.email.connection import check_connection
from atendo.transports.email.network import MailNetwork
from atendo.transports.email.oauth_sasl import Secret
from atendo.transports.email.oauth_tokens import oauth_token
from atendo.transports.email.settings import (
    CONNECTION_FIELDS,
    EmailChannelSettings,
    parse_settings,
)

TRANSPORT = "email"


def email_channel_out(channel: Channel) -> dict[str, Any]:
    """The API's channel object: every setting but the passwords, plus the status fields."""
    settings = {
        k: v for k, v in (channel.settings or {}).items() if k not in ("password", "smtp_password")
    }
    return {
        "id": channel.id,
        "name": channel.name,
        "phone": settings.get("email"),
        "transports": [channel.transport],
        "transport": channel.transport,
        **settings,
        "write_first": channel.write_first,
        "status": channel.status,
        "last_error": channel.last_error,
        "error_since": iso(channel.error_since),
        "last_sync": iso(channel.last_sync),
        "created": iso(channel.created),
        "password_set": bool(channel.secrets),
    }


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    return str(value)


async def test_or_raise(
    runtime: Runtime, data: dict[str, Any], password: Secret, smtp: str | None
) -> EmailChannelSettings:
    """Validate and test IMAP and SMTP for real; ``Invalid("Connection failed")`` with one
    plain reason per failing side."""
    cfg = parse_settings(data)
    network = MailNetwork.from_settings(runtime.settings)
    report = await check_connection(cfg, password, smtp, runtime.settings.connect_timeout, network)
    if not report.ok:
        errors: dict[str, list[str]] = {}
        if report.imap_error:
            errors["imap"] = [report.imap_error]
        if report.smtp_error:
            errors["smtp"] = [report.smtp_error]
        raise Invalid("Connection failed", errors, code="channel.connection_failed")
    return cfg


async def connect_email_channel(
    runtime: Runtime, *, company_id: int, data: dict[str, Any]
) -> Channel:
    """Validate, test for real, then save in one transaction (nothing saved on failure)."""
    cfg = parse_settings(data)
    if cfg.auth == "oauth":
        raise Invalid(
            "An OAuth mailbox is connected through its provider's sign-in",
            {"auth": ["use POST /v1/channels/oauth"]},
            code="channel.oauth_only",
        )
    password = _text(data, "password") or ""
    if not password:
        raise Invalid(
            "Invalid channel settings", {"password": ["required"]}, code="channel.invalid_settings"
        )
    smtp_password = _text(data, "smtp_password") or None
    await test_or_raise(runtime, data, password, smtp_password)
    secrets = {"password": password}
    if smtp_password:
        secrets["smtp_password"] = smtp_password
    with runtime.db.transaction() as session:
        channel = create_channel(
            session,
            company_id=company_id,
            transport=TRANSPORT,
            name=_text(data, "name") or cfg.email,
            settings=cfg.public(),
            secrets=secrets,
            box=runtime.box,
            write_first=cfg.write_first,
            status=ChannelStatus.CONNECTING,
        )
    return channel


async def update_email_channel(
    runtime: Runtime, *, company_id: int, channel_id: int, data: dict[str, Any]
) -> Channel:
    """Partial update. An omitted password keeps the stored one; a change to any connection
    field (or a password) is tested for real before it is saved."""
    with runtime.db.reading() as session:
        channel = get_channel(session, company_id=company_id, channel_id=channel_id)
        if channel.transport != TRANSPORT:
            raise Invalid(
                "unsupported transport",
                {"transport": ["not an e-mail channel"]},
                code="channel.unsupported_transport",
            )
        current = dict(channel.settings or {})
        stored = channel_secrets(channel, runtime.box)
    changes = {k: v for k, v in data.items() if v is not None and k not in ("transport", "id")}
    merged = {**current, **{k: v for k, v in changes.items() if k not in ("name",)}}
    cfg = parse_settings(merged)
    new_password = _text(changes, "password") or None
    new_smtp_password = _text(changes, "smtp_password") or None
    before = parse_settings(current).public() if current else {}
    if cfg.auth != before.get("auth", "password"):
        raise Invalid(
            "How a mailbox signs in changes only by connecting it again",
            {"auth": ["cannot be changed"]},
            code="channel.auth_fixed",
        )
    connection_changed = (
        any(cfg.public().get(f) != before.get(f) for f in CONNECTION_FIELDS)
        or new_password is not None
        or new_smtp_password is not None
    )
    if connection_changed:
        password = new_password or stored.get("password", "")
        smtp_password = new_smtp_password or stored.get("smtp_password") or None
        token = oauth_token(
            runtime, company_id=company_id, channel_id=channel_id, settings=cfg.public()
        )  # an OAuth mailbox: XOAUTH2
        await test_or_raise(runtime, merged, token or password, smtp_password)
    secrets: dict[str, str] = {}
    if new_password:
        secrets["password"] = new_password
    if new_smtp_password:
        secrets["smtp_password"] = new_smtp_password
    with runtime.db.transaction() as session:
        channel = get_channel(session, company_id=company_id, channel_id=channel_id)
        update_channel(
            session,
            channel=channel,
            name=_text(changes, "name"),
            settings=cfg.public(),
            secrets=secrets or None,
            box=runtime.box,
            write_first=cfg.write_first,
        )
        if connection_changed:
            # The worker drops its session and logs in again with the new settings.
            channel.reconnect_requested = True
            channel.status = ChannelStatus.CONNECTING.value
            channel.failures = 0
            channel.last_error = None
            channel.error_since = None
            release_sending(session, channel=channel)  # tested for real: held mail goes out
            channel_changed(session, channel.id)
    return channel
