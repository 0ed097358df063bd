"""The e-mail transport on the seam (:mod:`atendo.transports.base`): what the edges reach
through the registry. The work itself lives beside it: connecting (:mod:`.channels`),
replies and new chats (:mod:`.outbound`), the SMTP delivery loop (:mod:`.smtp_delivery`);
inbound mail comes through the mailbox sync (``workers/mailbox_sync`` → :mod:`.ingest`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import channel_secrets
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import get_dialog
from atendo.core.enums import MessageType
from atendo.core.errors import Invalid
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.base import (
    ApiParam,
    BaseTransport,
    ComposerField,
    Forward,
    OAuthDone,
    OAuthSetup,
    OAuthStart,
    Reply,
)
from atendo.transports.email.channels import (
    TRANSPORT,
    connect_email_channel,
    email_channel_out,
    update_email_channel,
)
from atendo.transports.email.connection import check_connection
from atendo.transports.email.discovery import Network, NotAnAddress, discover
from atendo.transports.email.network import MailNetwork
from atendo.transports.email.oauth import (
    FlowRefused,
    finish_flow,
    open_state,
    redirect_uri,
    start_flow,
)
from atendo.transports.email.oauth_tokens import configured_providers, oauth_token
from atendo.transports.email.outbound import (
    forward_email,
    queue_email_reply,
    start_outbound_chat,
    thread_subject,
)
from atendo.transports.email.recipients import reply_all
from atendo.transports.email.settings import SECRET_FIELDS, EmailChannelSettings, parse_settings
from atendo.transports.email.smtp_delivery import smtp_delivery_loop

SECURITY = ("ssl", "starttls", "none")


class EmailTransport(BaseTransport):
    name = TRANSPORT
    settings_model = EmailChannelSettings
    secret_fields = SECRET_FIELDS
    settings_template = "settings/channel_form.html"
    composer_fields = ("to", "cc", "bcc", "subject", "files", "signature", "forward")
    loops = (("smtp_delivery", smtp_delivery_loop),)
    own_delivery = True
    can_start_chats = True
    api_params = (
        ApiParam("email", "string", "the mailbox address (e-mail)"),
        ApiParam("sender_name", "string", "the From name (e-mail)"),
        ApiParam("imap_host", "string", "IMAP server (e-mail)"),
        ApiParam("imap_port", "integer", "IMAP port (default by security)"),
        ApiParam("imap_security", "string", "ssl, starttls or none", SECURITY),
        ApiParam("smtp_host", "string", "SMTP server (e-mail)"),
        ApiParam("smtp_port", "integer", "SMTP port (default by security)"),
        ApiParam("smtp_security", "string", "ssl, starttls or none", SECURITY),
        ApiParam("login", "string", "IMAP login (default: the address)"),
        ApiParam("password", "string", "IMAP password (never shown back)"),
        ApiParam("smtp_login", "string", "SMTP login when it differs"),
        ApiParam("smtp_password", "string", "SMTP password when it differs"),
        ApiParam(
            "send_delay", "integer", "seconds a message waits in the outbox (0–300, default 15)"
        ),
        ApiParam("import_days", "integer", "how far back the first sync reaches (default 3)"),
        ApiParam("copy_to_sent", "boolean", "keep a copy in the Sent folder"),
        ApiParam("reply_to", "string", "a Reply-To address"),
        ApiParam("tls_verify", "boolean", "verify the servers' certificates (default true)"),
    )

    async def connect(self, runtime: Runtime, *, company_id: int, data: dict[str, Any]) -> Channel:
        self.check_fields(data)
        return await connect_email_channel(runtime, company_id=company_id, data=data)

    async def update(
        self, runtime: Runtime, *, company_id: int, channel_id: int, data: dict[str, Any]
    ) -> Channel:
        self.check_fields(data)
        return await update_email_channel(
            runtime, company_id=company_id, channel_id=channel_id, data=data
        )

    async def verify(self, runtime: Runtime, channel: Channel) -> str | None:
        secrets = channel_secrets(channel, runtime.box)
        token = oauth_token(
            runtime,
            company_id=channel.company_id,
            channel_id=channel.id,
            settings=dict(channel.settings or {}),
        )
        report = await check_connection(
            parse_settings(dict(channel.settings or {})),
            token or secrets.get("password", ""),
            secrets.get("smtp_password") or None,
            runtime.settings.connect_timeout,
            MailNetwork.from_settings(runtime.settings),
        )
        return (
            None if report.ok else "; ".join(r for r in (report.imap_error, report.smtp_error) if r)
        )

    async def discover(self, runtime: Runtime, address: str) -> dict[str, Any] | None:
        try:
            found = await discover(
                address,
                network=Network(allow_private=runtime.settings.mail_allow_private_networks),
            )
        except NotAnAddress:
            raise Invalid(
                "email is not an e-mail address", {"email": ["not an e-mail address"]}
            ) from None
        return None if found is None else found.as_dict()

    def oauth_setup(self, runtime: Runtime) -> OAuthSetup:
        return OAuthSetup(
            tuple(configured_providers(runtime.settings)), redirect_uri(runtime.settings)
        )

    def oauth_start(
        self,
        runtime: Runtime,
        *,
        company_id: int,
        provider: str,
        data: dict[str, Any],
        channel_id: int | None = None,
        return_to: str | None = None,
    ) -> OAuthStart:
        started = start_flow(
            runtime,
            company_id=company_id,
            provider=provider,
            data=data,
            channel_id=channel_id,
            return_to=return_to,
        )
        return OAuthStart(started.authorize_url, started.binding, redirect_uri(runtime.settings))

    async def oauth_finish(
        self,
        runtime: Runtime,
        *,
        state: str,
        code: str | None,
        error: str | None,
        binding: str | None,
    ) -> OAuthDone:
        try:
            flow = open_state(runtime, state, binding)
        except FlowRefused as exc:
            return OAuthDone(None, None, error=exc.reason, problem=exc)
        return_to = flow.get("r")
        try:
            done = await finish_flow(runtime, state=state, code=code, error=error, binding=binding)
        except FlowRefused as exc:
            return OAuthDone(None, return_to, error=exc.reason, problem=exc)
        except Invalid as exc:
            return OAuthDone(None, return_to, error="connection", problem=exc)
        return OAuthDone(done.channel, done.return_to, created=done.created)

    def channel_fields(self, channel: Channel) -> dict[str, Any]:
        return email_channel_out(channel)

    def queue_reply(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int, reply: Reply
    ) -> Message:
        return queue_email_reply(
            session,
            runtime=runtime,
            company_id=company_id,
            dialog_id=dialog_id,
            operator_id=reply.operator_id,
            text=reply.text,
            html=reply.html,
            subject=reply.subject,
            to=None if reply.to is None else list(reply.to),
            cc=None if reply.cc is None else list(reply.cc),
            bcc=None if reply.bcc is None else list(reply.bcc),
            attachments=reply.attachments,
            automatic=reply.type == MessageType.AUTOREPLY,
        )

    def composer(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int
    ) -> tuple[ComposerField, ...]:
        """To/Cc/Bcc chips with the reply-all default, and the subject derived from the
        thread (required when there is nothing to derive it from). Labels are catalog
        msgids: the panel translates them."""
        dialog = get_dialog(session, company_id=company_id, dialog_id=dialog_id)
        default = reply_all(session, dialog=dialog)
        subject = thread_subject(session, dialog)
        return (
            ComposerField("to", "To", value=tuple(default.to), required=True),
            ComposerField("cc", "Cc", value=tuple(default.cc)),
            ComposerField("bcc", "Bcc", value=()),
            ComposerField(
                "subject", "Subject", kind="text", value=subject, required=not subject,
                placeholder="Subject",
            ),
        )  # fmt: skip

    def forward(
        self, session: Session, *, runtime: Runtime, company_id: int, forward: Forward
    ) -> Message:
        return forward_email(
            session,
            runtime=runtime,
            company_id=company_id,
            message_id=forward.message_id,
            to=list(forward.to),
            cc=list(forward.cc),
            note=forward.note,
            operator_id=forward.operator_id,
        )

    def start_chat(
        self,
        session: Session,
        *,
        runtime: Runtime,
        company_id: int,
        channel_id: int,
        addresses: list[str],
        operator_id: int | None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        client_id: int | None = None,
    ) -> tuple[Dialog, Message | None]:
        return start_outbound_chat(
            session,
            runtime=runtime,
            company_id=company_id,
            channel_id=channel_id,
            emails=addresses,
            operator_id=operator_id,
            subject=subject,
            text=text,
            html=html,
            client_id=client_id,
        )
