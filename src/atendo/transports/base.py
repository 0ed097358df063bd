"""The transport seam: what a channel adapter (e-mail, external, …) gives the rest of Atendo.

The edges (``api/``, ``panel/``, ``workers/``) know transports only through this protocol and
:mod:`atendo.transports.registry` (an import-linter contract forbids them anything below
``atendo.transports.<name>``). A transport declares:

* ``name`` — the ``Channel.transport`` / ``Message.transport`` value;
* ``settings_model`` — its channel settings (pydantic, validated) and ``secret_fields``, the
  settings stored encrypted and never shown back (``Channel.secrets``). ``POST /v1/channels``
  refuses any other field (422 naming it) instead of dropping it;
* ``connect`` / ``update`` / ``verify`` — a channel's life (each its own unit of work:
  connecting may test a server first, outside any transaction);
* ``channel_fields`` — the extra fields of the API's channel object, ``api_params`` the
  extra parameters documented for ``POST/PUT /v1/channels``;
* ``start_chat`` — a new outbound chat ("write first"; ``can_start_chats``);
* ``queue_reply`` — an operator's answer in one of its dialogs, queued in the outbox (only
  flushes: the edge commits);
* ``deliver`` — one claimed outbound message, for the shared outbox worker
  (``workers/outbox_delivery``); a transport with its own pipeline (e-mail's SMTP delivery)
  brings it among its ``loops`` and sets ``own_delivery``;
* panel contributions: ``settings_template`` (the channel form, None: no form),
  ``composer_fields`` (which composer inputs its dialogs offer: ``subject``, ``files``) and
  ``composer`` (those inputs with their values for one dialog, computed when the composer
  opens: e-mail's To/Cc/Bcc chips and derived subject);
* ``forward`` — an operator forwards a stored message to any address (``Forward``);
* ``loops`` — its background loops, run by the worker set;
* ``accepts_inbox`` — client messages may be injected with ``POST /v1/messages/inbox``;
* ``typing`` — an operator is typing in one of its dialogs (a live chat shows it; others
  ignore it);
* ``web_router`` — the HTTP endpoints of its own (a widget's visitors, a provider's inbound
  webhook), mounted by the composition root; None when it has none;
* ``oauth_start`` / ``oauth_finish`` — connecting an account by OAuth 2.0 (e-mail: Google and
  Microsoft mailboxes): the provider's authorization URL, then the redirect URI's work;
* ``outbox_by_webhook`` — its sender posts the ``outbox`` event to the company's webhooks
  itself, so the ordinary webhook dispatch skips those events (no second copy).

:class:`BaseTransport` gives the defaults (a channel that is connected at once, messages
queued through :func:`atendo.core.messages.outgoing.queue_message`); a transport overrides
what it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel, get_channel, update_channel
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import ChannelStatus, MessageType
from atendo.core.errors import Invalid
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import Outcome
from atendo.core.messages.outgoing import OutgoingAttachment, queue_message
from atendo.kit.clock import iso
from atendo.runtime import Runtime

Loop = Callable[[Runtime, asyncio.Event], Awaitable[None]]

# Fields every channel has, whatever its transport (the Channel row's own columns).
COMMON_FIELDS = frozenset({"name", "transport", "write_first"})


@dataclass(frozen=True)
class Reply:
    """What an operator (or the API) answers in a dialog; a transport uses what it supports."""

    text: str
    operator_id: int | None
    type: MessageType = MessageType.TO_CLIENT
    html: str | None = None
    subject: str | None = None
    # Recipients, for a transport that addresses each message (e-mail): None = its default
    # (e-mail: reply-all to the client's last message), a list = exactly these.
    to: Sequence[str] | None = None
    cc: Sequence[str] | None = None
    bcc: Sequence[str] | None = None
    attachments: Sequence[OutgoingAttachment] = ()
    external_id: str | None = None
    buttons: Sequence[str] = ()  # choices a transport with buttons shows (menu, survey)


@dataclass(frozen=True)
class ComposerField:
    """One input a transport adds to the panel's composer (e-mail: To, Cc, Bcc, Subject),
    with its value computed on the server when the composer opens."""

    name: str  # the form field, and ``data-testid="composer-<name>"``
    label: str  # a catalog msgid (the panel translates it)
    kind: str = "addresses"  # addresses (editable chips) | text
    value: Sequence[str] | str = ()
    required: bool = False
    placeholder: str = ""  # a catalog msgid


@dataclass(frozen=True)
class Forward:
    """An operator forwards a stored message (with its attachments) to any address."""

    message_id: int
    to: Sequence[str]
    note: str
    operator_id: int | None
    cc: Sequence[str] = ()


@dataclass(frozen=True)
class ApiParam:
    """One extra parameter of ``POST/PUT /v1/channels`` a transport documents."""

    name: str
    type: str
    description: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed outbound message, read inside the claim's transaction."""

    message_id: int
    company_id: int
    channel_id: int
    payload: dict[str, Any]  # the message as events carry it (message_event_payload)
    extra: dict[str, Any] = field(default_factory=dict)  # what the transport's prepare added


# The cookie that binds an OAuth flow to the browser that started it (the API's start and the
# panel's set it, the callback at ``/oauth/callback`` reads it).
OAUTH_COOKIE = "atendo_oauth"
OAUTH_COOKIE_PATH = "/oauth"
OAUTH_COOKIE_SECONDS = 15 * 60


@dataclass(frozen=True)
class OAuthStart:
    """Where to send the admin's browser, and the cookie that binds the flow to it."""

    authorize_url: str
    binding: str
    redirect_uri: str


def set_oauth_cookie(response: Response, started: OAuthStart, *, secure: bool) -> None:
    """The cookie the callback checks (the API's start and the panel's set it alike)."""
    response.set_cookie(
        OAUTH_COOKIE,
        started.binding,
        max_age=OAUTH_COOKIE_SECONDS,
        path=OAUTH_COOKIE_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=secure,
    )


@dataclass(frozen=True)
class OAuthSetup:
    """What the panel offers: the providers this installation has a client for, and the
    redirect URI to register at them."""

    providers: tuple[str, ...]
    redirect_uri: str


@dataclass(frozen=True)
class OAuthDone:
    """How a flow ended at the redirect URI: the channel connected (``error`` None), or why
    not (``error``: a short reason code, ``problem`` the error to answer an API caller);
    ``return_to``: the path of this site the flow asked to go back to (None: answer JSON)."""

    channel: Channel | None
    return_to: str | None
    created: bool = False
    error: str | None = None
    problem: Invalid | None = None


@runtime_checkable
class Transport(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def settings_model(self) -> type[BaseModel]: ...

    @property
    def secret_fields(self) -> tuple[str, ...]: ...

    @property
    def settings_template(self) -> str | None: ...

    @property
    def composer_fields(self) -> tuple[str, ...]: ...

    @property
    def api_params(self) -> tuple[ApiParam, ...]: ...

    @property
    def loops(self) -> tuple[tuple[str, Loop], ...]: ...

    @property
    def own_delivery(self) -> bool: ...

    @property
    def outbox_by_webhook(self) -> bool: ...

    @property
    def can_start_chats(self) -> bool: ...

    @property
    def accepts_inbox(self) -> bool: ...

    def accepted_fields(self) -> frozenset[str]: ...

    def check_fields(self, data: dict[str, Any]) -> None: ...

    async def connect(
        self, runtime: Runtime, *, company_id: int, data: dict[str, Any]
    ) -> Channel: ...

    async def update(
        self, runtime: Runtime, *, company_id: int, channel_id: int, data: dict[str, Any]
    ) -> Channel: ...

    async def verify(self, runtime: Runtime, channel: Channel) -> str | None: ...

    async def discover(self, runtime: Runtime, address: str) -> dict[str, Any] | None: ...

    def oauth_setup(self, runtime: Runtime) -> OAuthSetup | None: ...

    def oauth_start(
        self,
        runtime: Runtime,
        *,
        company_id: int,
        provider: str,
        data: dict[str, Any],
        channel_id: int | None = None,
        return_to: str | None = None,
    ) -> OAuthStart: ...

    async def oauth_finish(
        self,
        runtime: Runtime,
        *,
        state: str,
        code: str | None,
        error: str | None,
        binding: str | None,
    ) -> OAuthDone: ...

    def channel_fields(self, channel: Channel) -> dict[str, Any]: ...

    def queue_reply(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int, reply: Reply
    ) -> Message: ...

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
    ) -> tuple[Dialog, Message | None]: ...

    def composer(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int
    ) -> tuple[ComposerField, ...]: ...

    def forward(
        self, session: Session, *, runtime: Runtime, company_id: int, forward: Forward
    ) -> Message: ...

    def prepare(self, session: Session, runtime: Runtime, job: DeliveryJob) -> DeliveryJob: ...

    async def deliver(self, runtime: Runtime, job: DeliveryJob) -> Outcome: ...

    def web_router(self, runtime: Runtime) -> APIRouter | None: ...

    def typing(
        self, runtime: Runtime, *, company_id: int, dialog_id: int, operator_name: str
    ) -> None: ...


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseTransport:
    """Defaults for a transport: override what differs."""

    name: str = ""
    settings_model: type[BaseModel] = NoSettings
    secret_fields: tuple[str, ...] = ()
    settings_template: str | None = None
    composer_fields: tuple[str, ...] = ()
    api_params: tuple[ApiParam, ...] = ()
    loops: tuple[tuple[str, Loop], ...] = ()
    own_delivery = False
    outbox_by_webhook = False
    can_start_chats = False
    accepts_inbox = False

    # --- settings --------------------------------------------------------------------------

    def accepted_fields(self) -> frozenset[str]:
        return COMMON_FIELDS | set(self.settings_model.model_fields) | set(self.secret_fields)

    def check_fields(self, data: dict[str, Any]) -> None:
        """422 naming every field this transport does not take (never dropped silently)."""
        unknown = sorted(set(data) - self.accepted_fields())
        if unknown:
            raise Invalid(
                f"Unknown settings for a {self.name} channel: {', '.join(unknown)}",
                {k: [f"not a setting of the {self.name} transport"] for k in unknown},
                code="channel.unknown_settings",
                params={"fields": ", ".join(unknown)},
            )

    def parse_settings(self, data: dict[str, Any]) -> BaseModel:
        """The transport's settings model, validated; pydantic's complaints → ``Invalid``."""
        clean = {
            k: v for k, v in data.items() if k in self.settings_model.model_fields and v is not None
        }
        try:
            return self.settings_model.model_validate(clean)
        except ValidationError as exc:
            raise Invalid(
                "Invalid channel settings",
                self.settings_errors(exc),
                code="channel.invalid_settings",
            ) from None

    def settings_errors(self, exc: ValidationError) -> dict[str, list[str]]:
        """What was refused, per field (``prechat.name``…): pydantic's words by default; a
        transport may word them from the catalogs."""
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            errors.setdefault(name, []).append(str(err["msg"]).removeprefix("Value error, "))
        return errors

    # --- a channel's life -------------------------------------------------------------------

    async def connect(self, runtime: Runtime, *, company_id: int, data: dict[str, Any]) -> Channel:
        """A channel with nothing to connect to: validated, saved, connected at once."""
        self.check_fields(data)
        cfg = self.parse_settings(data)
        secrets = {k: str(data[k]) for k in self.secret_fields if data.get(k)}
        with runtime.db.transaction() as session:
            return create_channel(
                session,
                company_id=company_id,
                transport=self.name,
                name=str(data.get("name") or "").strip() or self.name.capitalize(),
                settings=cfg.model_dump(mode="json"),
                secrets=secrets,
                box=runtime.box,
                write_first=_flag(data.get("write_first"), True),
                status=ChannelStatus.CONNECTED,
            )

    async def update(
        self, runtime: Runtime, *, company_id: int, channel_id: int, data: dict[str, Any]
    ) -> Channel:
        self.check_fields(data)
        with runtime.db.transaction() as session:
            channel = get_channel(session, company_id=company_id, channel_id=channel_id)
            merged = {
                **(channel.settings or {}),
                **{k: v for k, v in data.items() if v is not None},
            }
            cfg = self.parse_settings(merged)
            secrets = {k: str(data[k]) for k in self.secret_fields if data.get(k)}
            update_channel(
                session,
                channel=channel,
                name=str(data["name"]) if data.get("name") is not None else None,
                settings=cfg.model_dump(mode="json"),
                secrets=secrets or None,
                box=runtime.box,
                write_first=_flag(data.get("write_first"), channel.write_first),
            )
            return channel

    async def verify(self, runtime: Runtime, channel: Channel) -> str | None:
        """Test the channel's connection; a plain reason when it fails, None when fine."""
        return None

    # --- the API's channel object -----------------------------------------------------------

    async def discover(self, runtime: Runtime, address: str) -> dict[str, Any] | None:
        """The settings a channel for ``address`` would likely use (hosts, ports, …), found
        from the address alone; None when the transport has no such lookup or found nothing.
        Raises :class:`~atendo.core.errors.Invalid` when ``address`` is not one."""
        return None

    def oauth_setup(self, runtime: Runtime) -> OAuthSetup | None:
        """None: this transport's channels are not connected by OAuth."""
        return None

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
        raise Invalid(
            f"A {self.name} channel is not connected by OAuth",
            {"transport": [f"the {self.name} transport has no OAuth sign-in"]},
            code="oauth.unknown_provider",
        )

    async def oauth_finish(
        self,
        runtime: Runtime,
        *,
        state: str,
        code: str | None,
        error: str | None,
        binding: str | None,
    ) -> OAuthDone:
        return OAuthDone(None, None, error="state")

    def channel_fields(self, channel: Channel) -> dict[str, Any]:
        settings = {
            k: v for k, v in (channel.settings or {}).items() if k not in self.secret_fields
        }
        return {
            "id": channel.id,
            "name": channel.name,
            "phone": None,
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

    # --- outbound ---------------------------------------------------------------------------

    def queue_reply(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int, reply: Reply
    ) -> Message:
        return queue_message(
            session,
            blobs=runtime.blobs,
            max_attachment_bytes=runtime.settings.max_attachment_bytes,
            max_message_bytes=runtime.settings.max_message_bytes,
            company_id=company_id,
            dialog_id=dialog_id,
            operator_id=reply.operator_id,
            text=reply.text,
            type=reply.type,
            external_id=reply.external_id,
            attachments=reply.attachments,
            buttons=reply.buttons,
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
        """A new outbound chat ("write first") with these addresses."""
        raise Invalid(
            f"New chats cannot be started on this channel ({self.name})",
            {"channel_id": [f"the {self.name} transport cannot start chats"]},
            code="channel.cannot_start_chats",
        )

    # --- the panel's composer -----------------------------------------------------------

    def composer(
        self, session: Session, *, runtime: Runtime, company_id: int, dialog_id: int
    ) -> tuple[ComposerField, ...]:
        """The composer inputs this transport adds for the dialog, with their values now."""
        return ()

    def forward(
        self, session: Session, *, runtime: Runtime, company_id: int, forward: Forward
    ) -> Message:
        raise Invalid(
            f"Messages cannot be forwarded on this channel ({self.name})",
            {"message_id": [f"the {self.name} transport cannot forward"]},
        )

    def prepare(self, session: Session, runtime: Runtime, job: DeliveryJob) -> DeliveryJob:
        """Read, inside the claim's transaction, what :meth:`deliver` needs beyond the
        message itself (targets, credentials)."""
        return job

    async def deliver(self, runtime: Runtime, job: DeliveryJob) -> Outcome:
        raise NotImplementedError(f"the {self.name} transport delivers nothing")

    # --- the web ----------------------------------------------------------------------------

    def web_router(self, runtime: Runtime) -> APIRouter | None:
        """Endpoints of the transport's own, mounted on the app by the composition root."""
        return None

    def typing(
        self, runtime: Runtime, *, company_id: int, dialog_id: int, operator_name: str
    ) -> None:
        """An operator is typing (its own unit of work); a transport without a live client
        ignores it."""
        return None
