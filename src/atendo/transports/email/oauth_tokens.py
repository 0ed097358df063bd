"""An OAuth mailbox's tokens: the providers, their token endpoint, and the access token
IMAP and SMTP sign in with (:class:`ChannelToken`), refreshed when it is about to expire and
once more when a server refuses it; a grant the provider no longer accepts holds the channel.
The flow that obtains the grant is :mod:`.oauth`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpcore
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    channel_secrets,
    forget_secrets,
    hold_sending,
    update_channel,
)
from atendo.core.errors import Invalid
from atendo.kit.db import get_scoped
from atendo.kit.netguard import WEB_PORTS, PortSet, TargetRefused
from atendo.kit.signed_post import HTTP_ERRORS, VettingBackend, request_line
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.email.connection import MailError

# The channel's words when its grant is gone (the panel words them: kit/failures.py).
GRANT_REVOKED = "the account's authorization was revoked or has expired: reconnect the account"
PROVIDER_UNAVAILABLE = "the provider's sign-in service did not answer"
# An access token is refreshed when it has less than this left.
REFRESH_MARGIN = 120.0
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    scopes: tuple[str, ...]
    extra: tuple[tuple[str, str], ...]  # more authorize parameters
    servers: tuple[tuple[str, Any], ...]  # the mailbox servers, as channel settings


PROVIDERS = {
    "google": Provider(
        name="google",
        label="Google",
        scopes=("https://mail.google.com/", "openid", "email"),
        extra=(("access_type", "offline"), ("prompt", "consent")),
        servers=(
            ("imap_host", "imap.gmail.com"),
            ("imap_port", 993),
            ("imap_security", "ssl"),
            ("smtp_host", "smtp.gmail.com"),
            ("smtp_port", 465),
            ("smtp_security", "ssl"),
        ),
    ),
    "microsoft": Provider(
        name="microsoft",
        label="Microsoft",
        scopes=(
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
            "offline_access",
            "openid",
            "email",
        ),
        extra=(("prompt", "select_account"),),
        servers=(
            ("imap_host", "outlook.office365.com"),
            ("imap_port", 993),
            ("imap_security", "ssl"),
            ("smtp_host", "smtp.office365.com"),
            ("smtp_port", 587),
            ("smtp_security", "starttls"),
        ),
    ),
}


@dataclass(frozen=True)
class Client:
    """This installation's registration at one provider."""

    provider: Provider
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str


def client_for(settings: Settings, name: str) -> Client:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise Invalid(
            "unknown provider", {"provider": ["google or microsoft"]}, code="oauth.unknown_provider"
        )
    if name == "google":
        client_id, secret = settings.oauth_google_client_id, settings.oauth_google_client_secret
        authorize, token = settings.oauth_google_authorize_url, settings.oauth_google_token_url
    else:
        base = f"https://login.microsoftonline.com/{settings.oauth_microsoft_tenant}/oauth2/v2.0"
        client_id = settings.oauth_microsoft_client_id
        secret = settings.oauth_microsoft_client_secret
        authorize = settings.oauth_microsoft_authorize_url or f"{base}/authorize"
        token = settings.oauth_microsoft_token_url or f"{base}/token"
    if not client_id:
        raise Invalid(
            f"Sign-in with {provider.label} is not set up on this installation",
            {"provider": [f"ATENDO_OAUTH_{name.upper()}_CLIENT_ID is not set"]},
            code="oauth.not_configured",
            params={"provider": provider.label},
        )
    return Client(provider, client_id, secret, authorize, token)


def configured_providers(settings: Settings) -> list[str]:
    """The providers this installation has a client id for (the panel's buttons)."""
    found = []
    for name in PROVIDERS:
        try:
            client_for(settings, name)
        except Invalid:
            continue
        found.append(name)
    return found


OAUTH_TOKEN_KEYS = {"oauth_refresh_token", "oauth_access_token", "oauth_expires"}


def secrets_of(tokens: dict[str, Any], refresh: str | None = None) -> dict[str, str]:
    expires = time.time() + float(tokens.get("expires_in") or 3600)
    return {
        "oauth_refresh_token": str(tokens.get("refresh_token") or refresh or ""),
        "oauth_access_token": str(tokens["access_token"]),
        "oauth_expires": f"{expires:.0f}",
    }


# --- the token endpoint --------------------------------------------------------------------


class GrantRevoked(Exception):
    """The provider refused the refresh token (``invalid_grant``)."""


class GrantGone(MailError):
    """The channel's grant no longer works: told in :data:`GRANT_REVOKED`."""

    revoked = True

    def __init__(self) -> None:
        super().__init__(GRANT_REVOKED)


async def token_request(settings: Settings, client: Client, form: dict[str, str]) -> dict[str, Any]:
    """POST to the token endpoint through the network guard; the JSON answer. Raises
    :class:`GrantRevoked` on ``invalid_grant``, :class:`MailError` otherwise."""
    body = urlencode(
        {**form, "client_id": client.client_id, "client_secret": client.client_secret}
    ).encode()
    allow_private = settings.mail_allow_private_networks
    if urlsplit(client.token_url).scheme != "https" and not allow_private:
        raise MailError(PROVIDER_UNAVAILABLE)
    backend = VettingBackend(
        allow_private=allow_private, ports=PortSet.parse(WEB_PORTS, settings.mail_extra_ports)
    )
    try:
        target, headers = request_line(client.token_url)
        headers += [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"accept", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        limits = {key: HTTP_TIMEOUT for key in ("connect", "read", "write", "pool")}
        async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
            async with asyncio.timeout(HTTP_TIMEOUT * 2):
                response = await pool.request(
                    "POST", target, headers=headers, content=body, extensions={"timeout": limits}
                )
    except (TargetRefused, TimeoutError, *HTTP_ERRORS) as exc:
        raise MailError(PROVIDER_UNAVAILABLE) from exc
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise MailError(PROVIDER_UNAVAILABLE)
    if response.status == 400 and answer.get("error") == "invalid_grant":
        raise GrantRevoked(str(answer.get("error_description") or "invalid_grant"))
    if response.status != 200 or not answer.get("access_token"):
        raise MailError(PROVIDER_UNAVAILABLE)
    return answer


# --- access tokens for IMAP and SMTP -------------------------------------------------------


@dataclass(frozen=True)
class StaticToken:
    """A token just received (the connection test of a finishing flow)."""

    token: str

    async def get(self, *, refused: str | None = None) -> str:
        return self.token


class ChannelToken:
    """The stored access token of an OAuth channel, refreshed when it has less than
    :data:`REFRESH_MARGIN` left or when a server refused it (``refused``). One refresh at a
    time per instance: the IMAP and SMTP sides of a connection test refused together get
    the one new token. Equal for the same channel, so that sessions keyed by account are
    still shared."""

    def __init__(self, runtime: Runtime, *, company_id: int, channel_id: int) -> None:
        self.runtime = runtime
        self.company_id = company_id
        self.channel_id = channel_id
        self._lock = asyncio.Lock()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChannelToken) and other.channel_id == self.channel_id

    def __hash__(self) -> int:
        return hash(("oauth", self.channel_id))

    def _channel(self, session: Session) -> Channel | None:
        return get_scoped(session, Channel, self.channel_id, company_id=self.company_id)

    def _load(self) -> tuple[str, dict[str, str]]:
        with self.runtime.db.reading() as session:
            channel = self._channel(session)
            if channel is None or channel.deleted:
                raise LookupError("channel gone")
            provider = str((channel.settings or {}).get("oauth_provider") or "")
            return provider, channel_secrets(channel, self.runtime.box)

    def _store(self, stored: dict[str, str]) -> None:
        with self.runtime.db.transaction() as session:
            channel = self._channel(session)
            if channel is not None:
                update_channel(session, channel=channel, secrets=stored, box=self.runtime.box)

    def _hold(self, *, revoked: bool = False) -> None:
        """Hold the channel (its sync and sending wait for a reconnect); a revoked grant's
        tokens are forgotten, so that the retries that follow ask the provider nothing."""
        with self.runtime.db.transaction() as session:
            channel = self._channel(session)  # kept: hold_sending finds it in the session
            if channel is not None:
                if revoked:
                    forget_secrets(
                        session, channel=channel, keys=OAUTH_TOKEN_KEYS, box=self.runtime.box
                    )
                hold_sending(session, channel_id=channel.id, reason=GRANT_REVOKED)

    async def get(self, *, refused: str | None = None) -> str:
        async with self._lock:
            return await self._get(refused)

    async def _get(self, refused: str | None) -> str:
        provider, stored = await asyncio.to_thread(self._load)
        access = stored.get("oauth_access_token", "")
        expires = float(stored.get("oauth_expires") or 0)
        if access and access != refused and expires - REFRESH_MARGIN > time.time():
            return access
        refresh = stored.get("oauth_refresh_token", "")
        if not refresh:
            await asyncio.to_thread(self._hold)
            raise GrantGone
        client = client_for(self.runtime.settings, provider)
        try:
            tokens = await token_request(
                self.runtime.settings,
                client,
                {"grant_type": "refresh_token", "refresh_token": refresh},
            )
        except GrantRevoked:
            await asyncio.to_thread(functools.partial(self._hold, revoked=True))
            raise GrantGone from None
        await asyncio.to_thread(self._store, secrets_of(tokens, refresh))
        return str(tokens["access_token"])


def oauth_token(
    runtime: Runtime, *, company_id: int, channel_id: int, settings: dict[str, Any]
) -> ChannelToken | None:
    """The channel's OAuth token when it signs in with one (None: with its password)."""
    if settings.get("auth") != "oauth":
        return None
    return ChannelToken(runtime, company_id=company_id, channel_id=channel_id)
