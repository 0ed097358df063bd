"""OAuth 2.0 mailboxes (Gmail / Google Workspace, Outlook.com / Microsoft 365).

The admin connects a mailbox without its password:

1. :func:`start_flow` — the authorization-code flow with PKCE (RFC 7636, S256) and a
   ``state``: the state is the flow itself (company, provider, code verifier, the servers to
   use, where to go back), encrypted with the installation's secret box, so nothing waits in
   the database and nobody can read the verifier from the URL. It is bound to the browser that
   started it: a random value goes to that browser as a cookie and its hash into the state;
2. the provider's consent page, then :func:`finish_flow` at the redirect URI: the state is
   opened and checked (age, the browser's cookie), the code exchanged for tokens (with the
   verifier), the address read from the OpenID ``id_token`` (received straight from the token
   endpoint over TLS, so its claims are taken without checking the signature: OpenID Connect
   Core §3.1.3.7), IMAP and SMTP tested with XOAUTH2, and the channel created (or, for a
   reconnection, its grant replaced and its held messages released);
3. the tokens are kept in ``Channel.secrets`` (encrypted at rest like passwords);
   :class:`ChannelToken` hands the access token to IMAP/SMTP (:mod:`.oauth_sasl`), refreshing
   it when it is about to expire and once more when a server refuses it. A refresh token the
   provider no longer accepts (``invalid_grant``: revoked, expired, password changed) holds
   the channel: status ``error`` with :data:`GRANT_REVOKED`, its queued messages wait, and the
   panel offers to run the flow again.

Every call to a provider goes through the network guard (:class:`VettingBackend`: one lookup,
public addresses only unless the installation allows private networks, web ports plus
``ATENDO_MAIL_EXTRA_PORTS``); plain ``http`` only where private networks are allowed (tests).

Provider facts, and where they come from (read in the providers' documentation, December 2026,
except where marked "not re-read"):
- Google: scope ``https://mail.google.com/`` for IMAP and SMTP, the XOAUTH2 format, and
  imap.gmail.com:993 SSL, smtp.gmail.com:465 SSL (or 587 STARTTLS)
  (https://developers.google.com/gmail/imap/xoauth2-protocol,
  https://developers.google.com/gmail/imap/imap-smtp: an IMAP session authenticated by OAuth
  lasts about as long as its access token, so the mailbox reconnects with a refreshed one);
  the web-server flow with ``access_type=offline``
  (https://developers.google.com/identity/protocols/oauth2/web-server); the endpoints
  https://accounts.google.com/o/oauth2/v2/auth and https://oauth2.googleapis.com/token and
  ``prompt=consent`` (a refresh token again on a reconnection): not re-read.
- Microsoft: https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize and /token with
  PKCE, scopes ``https://outlook.office.com/IMAP.AccessAsUser.All``,
  ``https://outlook.office.com/SMTP.Send`` and ``offline_access`` for a refresh token, the
  same XOAUTH2 format
  (https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth,
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow);
  outlook.office365.com:993 SSL and smtp.office365.com:587 STARTTLS: not re-read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from atendo.core.channels.models import Channel
from atendo.core.channels.service import (
    create_channel,
    get_channel,
    release_sending,
    update_channel,
)
from atendo.core.enums import ChannelStatus
from atendo.core.errors import Invalid
from atendo.kit.wake import channel_changed
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.email.channels import test_or_raise
from atendo.transports.email.connection import MailError
from atendo.transports.email.oauth_tokens import (
    GrantRevoked,
    StaticToken,
    client_for,
    secrets_of,
    token_request,
)

# A flow must come back within this many seconds.
FLOW_SECONDS = 15 * 60
CALLBACK_PATH = "/oauth/callback"


# What the admin may set beside the provider's servers (the form's fields).
SERVER_FIELDS = (
    "imap_host",
    "imap_port",
    "imap_security",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "tls_verify",
    "sender_name",
    "copy_to_sent",
    "import_days",
    "send_delay",
    "reply_to",
)


def redirect_uri(settings: Settings) -> str:
    """The exact URL to register at the providers."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return base.rstrip("/") + CALLBACK_PATH


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- the flow ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    authorize_url: str
    binding: str  # the cookie that binds the flow to this browser


@dataclass(frozen=True)
class Finished:
    channel: Channel
    return_to: str | None
    created: bool


def start_flow(
    runtime: Runtime,
    *,
    company_id: int,
    provider: str,
    data: dict[str, Any] | None = None,
    channel_id: int | None = None,
    return_to: str | None = None,
) -> Started:
    """The provider's authorization URL for a new mailbox (``data``: the servers and options
    the admin chose, the provider's by default; ``name``, ``email`` as a login hint) or for
    reconnecting ``channel_id``. ``return_to``: a path of this site to go back to."""
    client = client_for(runtime.settings, provider)
    data = dict(data or {})
    if channel_id is not None:
        with runtime.db.reading() as session:
            channel = get_channel(session, company_id=company_id, channel_id=channel_id)
            if channel.transport != "email":
                raise Invalid(
                    "not an e-mail channel",
                    {"channel_id": ["not an e-mail channel"]},
                    code="channel.unsupported_transport",
                )
            current = dict(channel.settings or {})
        data = {**{k: current[k] for k in SERVER_FIELDS if k in current}, **data}
        data.setdefault("email", current.get("email"))
    servers = {**dict(client.provider.servers)}
    servers.update({k: data[k] for k in SERVER_FIELDS if data.get(k) not in (None, "")})
    if return_to is not None and (not return_to.startswith("/") or return_to.startswith("//")):
        raise Invalid("return_to must be a path of this site", {"return_to": ["a path"]})  # panel
    verifier = secrets.token_urlsafe(48)
    binding = secrets.token_urlsafe(24)
    flow = {
        "c": company_id,
        "p": provider,
        "v": verifier,
        "b": _digest(binding),
        "x": int(time.time()) + FLOW_SECONDS,
        "ch": channel_id,
        "s": servers,
        "n": str(data.get("name") or "").strip()[:200],
        "r": return_to,
    }
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri(runtime.settings),
        "scope": " ".join(client.provider.scopes),
        "state": runtime.box.encrypt(json.dumps(flow)),
        "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        **dict(client.provider.extra),
    }
    if data.get("email"):
        query["login_hint"] = str(data["email"])
    separator = "&" if "?" in client.authorize_url else "?"
    return Started(f"{client.authorize_url}{separator}{urlencode(query)}", binding)


class FlowRefused(Invalid):
    """The callback cannot finish the flow (``reason``: a short code the panel words)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, {"oauth": [reason]}, code=f"oauth.{reason}")
        self.reason = reason


def open_state(runtime: Runtime, state: str, binding: str | None) -> dict[str, Any]:
    try:
        flow = json.loads(runtime.box.decrypt(state))
    except (ValueError, TypeError):
        raise FlowRefused("The sign-in could not be checked: start it again", "state") from None
    if not isinstance(flow, dict) or int(flow.get("x", 0)) < time.time():
        raise FlowRefused("The sign-in took too long: start it again", "expired")
    if not binding or not hmac.compare_digest(_digest(binding), str(flow.get("b"))):
        raise FlowRefused("The sign-in was started in another browser: start it again", "browser")
    return flow


async def finish_flow(
    runtime: Runtime,
    *,
    state: str,
    code: str | None,
    error: str | None,
    binding: str | None,
) -> Finished:
    """The redirect URI's work: check, exchange, test, save (nothing saved on failure)."""
    flow = open_state(runtime, state, binding)
    if error or not code:
        raise FlowRefused("The provider did not grant access to the mailbox", "denied")
    client = client_for(runtime.settings, str(flow["p"]))
    try:
        tokens = await token_request(
            runtime.settings,
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(runtime.settings),
                "code_verifier": str(flow["v"]),
            },
        )
    except GrantRevoked:
        raise FlowRefused("The provider refused the sign-in: start it again", "code") from None
    except MailError:
        raise FlowRefused("The provider's sign-in service did not answer", "provider") from None
    if not tokens.get("refresh_token"):
        raise FlowRefused("The provider gave no lasting access (no refresh token)", "no_refresh")
    email = address_of(tokens)
    if email is None:
        raise FlowRefused("The provider did not say which mailbox was signed in", "no_address")
    cfg = await test_or_raise(
        runtime,
        {**flow["s"], "email": email, "auth": "oauth", "oauth_provider": client.provider.name},
        StaticToken(str(tokens["access_token"])),
        None,
    )
    stored = secrets_of(tokens)
    company_id = int(flow["c"])
    channel_id = flow.get("ch")
    with runtime.db.transaction() as session:
        if channel_id is None:
            channel = create_channel(
                session,
                company_id=company_id,
                transport="email",
                name=str(flow.get("n") or "") or email,
                settings=cfg.public(),
                secrets=stored,
                box=runtime.box,
                write_first=cfg.write_first,
                status=ChannelStatus.CONNECTING,
            )
            return Finished(channel, flow.get("r"), created=True)
        channel = get_channel(session, company_id=company_id, channel_id=int(channel_id))
        update_channel(session, channel=channel, settings=cfg.public(), box=runtime.box)
        channel.secrets = runtime.box.encrypt(json.dumps(stored))  # the old grant goes
        channel.reconnect_requested = True
        channel.status = ChannelStatus.CONNECTING.value
        channel.failures = 0
        channel.last_error = None
        channel.error_since = None
        release_sending(session, channel=channel)  # held messages go out with the new grant
        channel_changed(session, channel.id)
        return Finished(channel, flow.get("r"), created=False)


def address_of(tokens: dict[str, Any]) -> str | None:
    """The signed-in address from the id_token's claims (``email``; Microsoft work accounts
    may only have ``preferred_username``/``upn``)."""
    raw = str(tokens.get("id_token") or "")
    parts = raw.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    for key in ("email", "preferred_username", "upn"):
        value = str(claims.get(key) or "").strip().lower()
        if "@" in value:
            return value
    return None
