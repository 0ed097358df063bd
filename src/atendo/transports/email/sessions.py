"""The e-mail transport's channel session on the seam: the IMAP sync of one mailbox
(:class:`~atendo.transports.email.imap_sync.MailboxSync`), run by the workers' session
supervisor (``workers/mailbox_sync``) on the worker that holds the channel's lease."""

from __future__ import annotations

import asyncio

from atendo.core.channels.models import Channel
from atendo.core.channels.service import channel_secrets
from atendo.runtime import Runtime
from atendo.transports.base import SessionEnded, SessionHooks
from atendo.transports.email.imap_sync import MailboxSync
from atendo.transports.email.oauth_sasl import Secret
from atendo.transports.email.oauth_tokens import oauth_token
from atendo.transports.email.settings import EmailChannelSettings


def _load(runtime: Runtime, channel_id: int) -> tuple[EmailChannelSettings, Secret]:
    with runtime.db.reading() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.deleted:
            raise SessionEnded("channel gone")
        cfg = EmailChannelSettings.model_validate(channel.settings or {})
        token = oauth_token(
            runtime,
            company_id=channel.company_id,
            channel_id=channel_id,
            settings=channel.settings or {},
        )  # an OAuth mailbox
        return cfg, token or channel_secrets(channel, runtime.box).get("password", "")


async def run_mailbox_session(runtime: Runtime, channel_id: int, hooks: SessionHooks) -> None:
    """Sync the channel's mailbox until cancelled (raises on a failure)."""
    cfg, password = await asyncio.to_thread(_load, runtime, channel_id)
    sync = MailboxSync(
        runtime,
        channel_id=channel_id,
        cfg=cfg,
        password=password,
        on_synced=hooks.on_synced,
        fence=hooks.fence,
        connect_gate=hooks.connect_gate,
    )
    del cfg, password  # held by the session until it has connected, not by this frame
    await sync.run()
