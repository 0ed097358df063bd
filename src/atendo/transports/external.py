"""The ``external`` transport: for systems that bring their own messenger.

In: ``POST /v1/messages/inbox`` (the transport ``accepts_inbox``) → the core verb
:func:`~atendo.core.messages.inbound.receive_client_message` (client by phone or id, dialog,
request, ``inbox``/``new_request`` events). Out: an operator's answer (API or panel composer)
is queued in the outbox; the shared outbox worker (``atendo.workers.outbox_delivery``) hands
each due message to :meth:`ExternalTransport.deliver`, which POSTs it, signed, to the
company's webhooks subscribed to ``outbox``: ``sent`` when one answers 2xx, else a temporary
failure retried on the outbox's one schedule (:mod:`atendo.core.messages.outbox`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel
from atendo.core.enums import ChannelStatus, EventType
from atendo.core.messages.outbox import Accepted, Outcome, TemporaryFailure
from atendo.core.webhooks.service import outbox_webhooks, webhook_secret
from atendo.kit.clock import iso, utcnow
from atendo.kit.crypto import SecretBox
from atendo.kit.netguard import Resolver, system_resolver
from atendo.kit.signed_post import SignedPoster
from atendo.runtime import Runtime
from atendo.transports.base import BaseTransport, DeliveryJob

TRANSPORT = "external"
NO_TARGET = "no enabled webhook is subscribed to outbox for this channel"


def create_external_channel(
    session: Session, *, company_id: int, name: str, box: SecretBox, write_first: bool = True
) -> Channel:
    """An external channel: nothing to connect to, so it is connected at once."""
    return create_channel(
        session,
        company_id=company_id,
        transport=TRANSPORT,
        name=name.strip() or "External",
        settings={},
        secrets={},
        box=box,
        write_first=write_first,
        status=ChannelStatus.CONNECTED,
    )


class ExternalTransport(BaseTransport):
    name = TRANSPORT
    composer_fields = ("files",)
    outbox_by_webhook = True
    accepts_inbox = True

    def __init__(self, resolve: Resolver = system_resolver) -> None:
        # How webhook host names are looked up (every address is vetted by the netguard).
        self.resolve = resolve

    async def connect(self, runtime: Runtime, *, company_id: int, data: dict[str, Any]) -> Channel:
        self.check_fields(data)
        with runtime.db.transaction() as session:
            return create_external_channel(
                session,
                company_id=company_id,
                name=str(data.get("name") or ""),
                box=runtime.box,
                write_first=str(data.get("write_first", "true")).lower()
                not in ("0", "false", "no"),
            )

    def prepare(self, session: Session, runtime: Runtime, job: DeliveryJob) -> DeliveryJob:
        hooks = outbox_webhooks(session, company_id=job.company_id, channel_id=job.channel_id)
        targets = [(h.url, webhook_secret(h, runtime.box)) for h in hooks]
        return DeliveryJob(
            job.message_id, job.company_id, job.channel_id, job.payload, {"targets": targets}
        )

    async def deliver(self, runtime: Runtime, job: DeliveryJob) -> Outcome:
        """POST the message to every outbox webhook; accepted once one of them took it."""
        targets: list[tuple[str, str]] = job.extra.get("targets", [])
        if not targets:
            return TemporaryFailure(NO_TARGET)
        payload = {"hook_type": EventType.OUTBOX.value, "event_time": iso(utcnow()), **job.payload}
        errors: list[str] = []
        delivered = False
        allow_private = runtime.settings.webhooks_allow_private_networks
        ports = runtime.settings.webhook_ports
        async with SignedPoster(
            allow_private=allow_private, resolve=self.resolve, ports=ports
        ) as poster:
            for url, secret in targets:
                outcome = await poster.post(
                    url, secret=secret, msg_id=f"msg_{job.message_id}", payload=payload
                )
                if outcome.error is None:
                    delivered = True
                else:
                    errors.append(f"{url}: {outcome.error}")
        return Accepted("webhook 2xx") if delivered else TemporaryFailure("; ".join(errors))


async def open_external_channel(
    runtime: Runtime, *, company_id: int, data: dict[str, Any]
) -> Channel:
    """``POST /v1/channels`` with ``transport: "external"`` (its own unit of work)."""
    return await ExternalTransport().connect(runtime, company_id=company_id, data=data)
