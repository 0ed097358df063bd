"""The widget transport on the seam: a chat on the company's site, answered from the panel.

Set-up is the settings model (:mod:`.settings`), validated like every channel's; a channel
gets a ``public_id`` (what the snippet names) at creation. Visitors reach it through the
routes of :mod:`.routes` (mounted via :meth:`WidgetTransport.web_router`); their messages
come in through the core verb ``receive_client_message``. An operator's answer is queued in
the outbox like any other; the widget's own delivery loop (:mod:`.delivery`) records it sent
with the outbox's verbs and wakes this process's hub, and every process's hub carries the
committed ``outbox_status`` event to the visitor's live connection (:mod:`.hub`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel, get_channel, update_channel
from atendo.core.dialogs.service import get_dialog
from atendo.core.enums import ChannelStatus
from atendo.core.errors import Invalid
from atendo.core.events.service import signal_typing
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import Accepted, Outcome
from atendo.runtime import Runtime
from atendo.transports.base import ApiParam, BaseTransport, DeliveryJob, Reply, _flag
from atendo.transports.widget.delivery import queued, widget_delivery_loop
from atendo.transports.widget.hub import changed, nudge_all
from atendo.transports.widget.settings import FIELD_WORDS, WidgetSettings, settings_errors
from atendo.transports.widget.visitors import TRANSPORT, new_public_id

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def snippet(base_url: str, public_id: str) -> str:
    return (
        f'<script src="{base_url.rstrip("/")}/widget/loader.js" '
        f'data-channel="{public_id}" async></script>'
    )


class WidgetTransport(BaseTransport):
    name = TRANSPORT
    settings_model = WidgetSettings
    secret_fields = ("identity_secret",)
    composer_fields = ("files",)
    loops = (("widget_delivery", widget_delivery_loop),)
    own_delivery = True
    api_params = (
        ApiParam("allowed_origins", "string[]", "site origins allowed to embed the widget"),
        ApiParam("color", "string", "launcher and header colour (#rrggbb)"),
        ApiParam("position", "string", "right or left", ("right", "left")),
        ApiParam("title", "object", "title per language (pt-BR, en, es) or one text"),
        ApiParam("greeting", "object", "greeting per language (pt-BR, en, es) or one text"),
        ApiParam("away_text", "object", "text shown when no operator is online"),
        ApiParam("prechat", "object", "name, email, phone: each off, optional or required"),
        ApiParam("consent_text", "object", "consent text per language (a link in it is shown)"),
        ApiParam("uploads", "boolean", "visitors may send files"),
        ApiParam("max_upload_bytes", "integer", "the largest file a visitor may send"),
        ApiParam("identity_secret", "string", "HMAC secret for identity verification (write-only)"),
        ApiParam("offline_email_channel_id", "integer", "e-mail channel for offline messages"),
    )

    def __init__(self) -> None:
        self.public_url = DEFAULT_PUBLIC_URL

    def settings_errors(self, exc: ValidationError) -> dict[str, list[str]]:
        """In the catalogs' words, not pydantic's (:func:`.settings.settings_errors`)."""
        return settings_errors(exc)

    def web_router(self, runtime: Runtime) -> APIRouter:
        from atendo.transports.widget import threads
        from atendo.transports.widget.routes import build_router

        threads.setup(runtime.db.is_postgres)

        self.public_url = runtime.settings.public_url or (
            f"http://{runtime.settings.host}:{runtime.settings.port}"
        )
        return build_router()

    # --- a channel's life -------------------------------------------------------------------

    def _check(self, session: Session, company_id: int, cfg: WidgetSettings) -> None:
        if cfg.offline_email_channel_id is None:
            return
        target = get_channel(
            session, company_id=company_id, channel_id=cfg.offline_email_channel_id
        )
        if target.transport != "email":
            raise Invalid(
                "Invalid channel settings",
                {"offline_email_channel_id": [FIELD_WORDS["offline_email_channel_id"]]},
                code="channel.invalid_settings",
            )

    async def connect(self, runtime: Runtime, *, company_id: int, data: dict[str, Any]) -> Channel:
        self.check_fields(data)
        cfg = self.parse_settings(data)
        assert isinstance(cfg, WidgetSettings)
        secrets = {k: str(data[k]) for k in self.secret_fields if data.get(k)}
        with runtime.db.transaction() as session:
            self._check(session, company_id, cfg)
            return create_channel(
                session,
                company_id=company_id,
                transport=self.name,
                name=str(data.get("name") or "").strip()[:200] or "Widget",
                settings={**cfg.model_dump(mode="json"), "public_id": new_public_id()},
                secrets=secrets,
                box=runtime.box,
                write_first=False,
                status=ChannelStatus.CONNECTED,
            )

    async def update(
        self, runtime: Runtime, *, company_id: int, channel_id: int, data: dict[str, Any]
    ) -> Channel:
        self.check_fields(data)
        with runtime.db.transaction() as session:
            channel = get_channel(session, company_id=company_id, channel_id=channel_id)
            current = dict(channel.settings or {})
            merged = {**current, **{k: v for k, v in data.items() if v is not None}}
            cfg = self.parse_settings(merged)
            assert isinstance(cfg, WidgetSettings)
            self._check(session, company_id, cfg)
            secrets = {k: str(data[k]) for k in self.secret_fields if data.get(k)}
            update_channel(
                session,
                channel=channel,
                name=str(data["name"]).strip()[:200] if data.get("name") else None,
                settings={**cfg.model_dump(mode="json"), "public_id": current.get("public_id")},
                secrets=secrets or None,
                box=runtime.box,
                write_first=_flag(data.get("write_first"), channel.write_first),
            )
            return channel

    def channel_fields(self, channel: Channel) -> dict[str, Any]:
        out = super().channel_fields(channel)
        public_id = str((channel.settings or {}).get("public_id", ""))
        out.pop("password_set", None)
        out["identity_secret_set"] = bool(channel.secrets)
        out["public_id"] = public_id
        out["snippet"] = snippet(self.public_url, public_id)
        return out

    def queue_reply(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int, reply: Reply
    ) -> Message:
        """Queued like any answer; the widget's delivery loops look as soon as it commits."""
        message = super().queue_reply(
            session, runtime=runtime, company_id=company_id, dialog_id=dialog_id, reply=reply
        )
        queued(session)
        return message

    def typing(
        self, runtime: Runtime, *, company_id: int, dialog_id: int, operator_name: str
    ) -> None:
        """The visitor sees "<name> is typing…" (through the hubs, in every process)."""
        with runtime.db.transaction() as session:
            dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
            signal_typing(
                session,
                company_id=company_id,
                channel_id=dialog.channel_id,
                dialog_id=dialog.id,
                client_id=dialog.client_id,
                by="operator",
                name=operator_name,
            )
            changed(session)

    # --- outbound ---------------------------------------------------------------------------

    async def deliver(self, runtime: Runtime, job: DeliveryJob) -> Outcome:
        """Stored is delivered: the visitor's connection shows it (now, or on their return).
        (The delivery loop does this for whole batches; kept for callers of the seam.)"""
        nudge_all()
        return Accepted("widget")
