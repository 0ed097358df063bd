"""OAuth 2.0 mailboxes against real servers: the local authorization server
(tests/servers/oauth.py: consent page, PKCE-checked code exchange, refresh tokens,
introspection), a Dovecot whose ``oauth2`` passdb introspects every XOAUTH2 login there, and
an aiosmtpd server whose AUTH XOAUTH2 does the same. Nothing of the protocol is mocked: the
browser's part of the flow is done over HTTP (httpx), the rest by Atendo's own code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from atendo.core.channels.models import Channel
from atendo.core.channels.service import channel_secrets
from atendo.core.enums import DeliveryStatus
from atendo.core.messages.models import Message
from atendo.kit.netguard import TargetRefused
from atendo.panel.failure_words import failure_words
from atendo.runtime import Runtime
from atendo.transports import registry
from atendo.transports.email import oauth, oauth_tokens
from atendo.transports.email.connection import MailError, close_imap, open_imap
from atendo.transports.email.network import MailNetwork
from atendo.transports.email.settings import EmailChannelSettings
from atendo.workers import mailbox_sync
from tests.conftest import CompanyFixture
from tests.servers.oauth import OAuthDovecot, OAuthServer, XOAuth2SmtpServer
from tests.servers.oauth import oauth_dovecot as running_oauth_dovecot
from tests.transports.email.test_outbound import email_dialog, reply
from tests.transports.email.test_recovery import _channel
from tests.transports.email.test_send import load, sender

CLIENT_ID, CLIENT_SECRET = "atendo-test-client", "atendo-test-secret"
PUBLIC_URL = "http://testserver"
WAIT = 20.0


@pytest.fixture(scope="module")
def provider(runtime: Runtime) -> Iterator[OAuthServer]:
    """The local provider, registered as this installation's "google"."""
    server = OAuthServer().start()
    server.add_client(CLIENT_ID, CLIENT_SECRET, PUBLIC_URL + oauth.CALLBACK_PATH)
    values = {
        "public_url": PUBLIC_URL,
        "oauth_google_client_id": CLIENT_ID,
        "oauth_google_client_secret": CLIENT_SECRET,
        "oauth_google_authorize_url": server.url + "/authorize",
        "oauth_google_token_url": server.url + "/token",
    }
    before = {k: getattr(runtime.settings, k) for k in values}
    for key, value in values.items():
        setattr(runtime.settings, key, value)
    try:
        yield server
    finally:
        for key, value in before.items():
            setattr(runtime.settings, key, value)
        server.stop()


@pytest.fixture(scope="module")
def oauth_dovecot(provider: OAuthServer) -> Iterator[OAuthDovecot]:
    with running_oauth_dovecot(provider.url) as server:
        yield server


@pytest.fixture
def xoauth2_smtp(provider: OAuthServer) -> Iterator[XOAuth2SmtpServer]:
    server = XOAuth2SmtpServer(provider.url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def account(provider: OAuthServer) -> str:
    """A fresh address; the provider's consent page signs in as it."""
    provider.consent_as = f"u{time.time_ns()}@example.com"
    return provider.consent_as


@dataclass
class Bed:
    """The servers of one test, and the address the provider signs in as."""

    provider: OAuthServer
    dovecot: OAuthDovecot
    smtp: XOAuth2SmtpServer
    account: str


@pytest.fixture
def bed(
    provider: OAuthServer,
    oauth_dovecot: OAuthDovecot,
    xoauth2_smtp: XOAuth2SmtpServer,
    account: str,
) -> Bed:
    return Bed(provider, oauth_dovecot, xoauth2_smtp, account)


def consent(authorize_url: str, *, allow: bool = True) -> str:
    """What the admin's browser does at the provider: open the consent page, press the
    button; the provider's redirect back to us (a path of the test app)."""
    with httpx.Client() as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
        fields["decision"] = "allow" if allow else "deny"
        back = browser.post(authorize_url.split("?")[0], data=fields)
    assert back.status_code == 302
    return back.headers["location"].removeprefix(PUBLIC_URL)


def start(api: TestClient, **body: Any) -> str:
    answer = api.post("/v1/channels/oauth", json={"provider": "google", **body})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["redirect_uri"] == PUBLIC_URL + "/oauth/callback"
    return str(data["authorize_url"])


def servers(bed: Bed) -> dict[str, Any]:
    return {
        "imap_host": "127.0.0.1",
        "imap_port": bed.dovecot.imap_port,
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": bed.smtp.port,
        "smtp_security": "none",
        "send_delay": 0,
    }


def connect(api: TestClient, bed: Bed) -> dict[str, Any]:
    callback = consent(start(api, name="Support", **servers(bed)))
    answer = api.get(callback)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"])


def stored(runtime: Runtime, channel_id: int) -> dict[str, str]:
    return channel_secrets(_channel(runtime, channel_id), runtime.box)


def settings_of(runtime: Runtime, channel_id: int) -> EmailChannelSettings:
    return EmailChannelSettings.model_validate(_channel(runtime, channel_id).settings)


def mail(tag: str, to: str) -> bytes:
    return (
        f"From: Maria <maria-{tag}@example.org>\r\nTo: {to}\r\nSubject: order {tag}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: <{tag}@oauth.example.org>\r\n\r\nHello {tag}.\r\n"
    ).encode()


async def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached within {WAIT:.0f} s: {what}")


def has_mail(runtime: Runtime, channel_id: int, tag: str) -> bool:
    with runtime.db.reading() as session:
        found = session.scalar(
            select(Message.id).where(
                Message.channel_id == channel_id,
                Message.dedup_key.like(f"%{tag}@oauth.example.org%"),
            )
        )
        return found is not None


# --- the flow ------------------------------------------------------------------------------


def test_the_flow_connects_the_mailbox_the_provider_names(
    runtime: Runtime, api: TestClient, bed: Bed
) -> None:
    provider, account = bed.provider, bed.account
    before = dict(provider.grants_by_type)
    url = start(api, name="Support", **servers(bed))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256
    assert query["scope"] == "https://mail.google.com/ openid email"
    assert query["access_type"] == "offline"
    assert query["redirect_uri"] == "http://testserver/oauth/callback"
    answer = api.get(consent(url))
    assert answer.status_code == 201, answer.text
    channel = answer.json()["data"]
    assert channel["email"] == account  # the address the provider reported
    assert channel["name"] == "Support"
    assert channel["auth"] == "oauth"
    assert channel["oauth_provider"] == "google"
    assert channel["status"] == "connecting"
    assert provider.grants_by_type.get("authorization_code", 0) == (
        before.get("authorization_code", 0) + 1
    )
    # the connection test signed in with XOAUTH2 on both sides
    assert bed.smtp.xoauth2 == [(account, True)]
    # the tokens are kept encrypted: not readable in the row, readable with the box
    raw = _channel(runtime, channel["id"]).secrets
    tokens = stored(runtime, channel["id"])
    assert set(tokens) == {"oauth_refresh_token", "oauth_access_token", "oauth_expires"}
    assert tokens["oauth_refresh_token"] not in raw
    assert tokens["oauth_access_token"] not in raw
    shown = json.dumps(channel)  # and never shown back
    assert tokens["oauth_refresh_token"] not in shown
    assert tokens["oauth_access_token"] not in shown


def test_the_callback_refuses_another_browser_a_forged_state_and_a_refusal(
    runtime: Runtime, api: TestClient, bed: Bed
) -> None:
    # the admin pressed "Deny" at the provider
    denied = api.get(consent(start(api, **servers(bed)), allow=False))
    assert denied.status_code == 422
    assert denied.json()["errors"] == {"oauth": ["denied"]}
    # a state that is not ours
    forged = api.get("/oauth/callback?code=x&state=not-a-state")
    assert forged.status_code == 422
    assert forged.json()["errors"] == {"oauth": ["state"]}
    # the link opened in another browser (without the cookie the start set)
    callback = consent(start(api, **servers(bed)))
    assert api.cookies.get("atendo_oauth")
    api.cookies.delete("atendo_oauth")
    answer = api.get(callback)
    assert answer.status_code == 422
    assert answer.json()["errors"] == {"oauth": ["browser"]}
    assert answer.json()["code"] == "oauth.browser"
    listed = api.get("/v1/channels").json()["data"]
    assert listed == []  # nothing was connected


def test_start_needs_a_known_configured_provider_and_a_token(
    runtime: Runtime, api: TestClient, provider: OAuthServer
) -> None:
    unknown = api.post("/v1/channels/oauth", json={"provider": "yahoo"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == {"provider": ["google or microsoft"]}
    unset = api.post("/v1/channels/oauth", json={"provider": "microsoft"})
    assert unset.status_code == 422
    assert unset.json()["errors"] == {"provider": ["ATENDO_OAUTH_MICROSOFT_CLIENT_ID is not set"]}
    assert unset.json()["code"] == "oauth.not_configured"
    token = api.headers.pop("Authorization")
    try:
        assert api.post("/v1/channels/oauth", json={"provider": "google"}).status_code == 401
    finally:
        api.headers["Authorization"] = token
    # an OAuth mailbox is never created with a password through POST /v1/channels
    refused = api.post(
        "/v1/channels",
        json={"email": "x@example.com", "imap_host": "h", "smtp_host": "h", "auth": "oauth"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"auth": ["use POST /v1/channels/oauth"]}


def test_an_oauth_mailbox_is_edited_with_its_token_and_keeps_its_sign_in(
    runtime: Runtime, api: TestClient, bed: Bed
) -> None:
    channel = connect(api, bed)
    refreshes = bed.provider.refreshes()
    bed.provider.expire_access_tokens()  # the change is tested for real, with a new token
    changed = api.put(
        f"/v1/channels/{channel['id']}",
        json={"sender_name": "Suporte", "imap_host": "localhost"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["data"]["imap_host"], changed.json()["data"]["auth"]) == (
        "localhost",
        "oauth",
    )
    assert bed.provider.refreshes() == refreshes + 1
    back = api.put(f"/v1/channels/{channel['id']}", json={"auth": "password", "password": "x"})
    assert back.status_code == 422
    assert back.json()["code"] == "channel.auth_fixed"


async def test_the_token_endpoint_is_reached_only_through_the_network_guard(
    runtime: Runtime, provider: OAuthServer
) -> None:
    """Where private networks are not allowed, a token endpoint on loopback is never asked:
    not over https (the guard refuses the address), not over plain http (refused first)."""
    strict = runtime.settings.model_copy(update={"mail_allow_private_networks": False})
    client = oauth_tokens.client_for(runtime.settings, "google")
    before = dict(provider.grants_by_type)
    form = {"grant_type": "refresh_token", "refresh_token": "anything"}
    for url in (provider.url + "/token", f"https://127.0.0.1:{provider.port}/token"):
        with pytest.raises(MailError) as refused:
            await oauth_tokens.token_request(strict, replace(client, token_url=url), form)
        assert str(refused.value) == oauth_tokens.PROVIDER_UNAVAILABLE
    assert isinstance(refused.value.__cause__, TargetRefused)  # the guard said no, not TLS
    assert provider.grants_by_type == before
    # the same call where the installation allows private networks (the tests') goes through
    with pytest.raises(oauth_tokens.GrantRevoked):
        await oauth_tokens.token_request(runtime.settings, client, form)
    assert provider.grants_by_type == {
        **before,
        "refresh_token": before.get("refresh_token", 0) + 1,
    }


def test_microsoft_endpoints_follow_the_tenant_and_work_accounts_name_their_address(
    runtime: Runtime,
) -> None:
    settings = runtime.settings.model_copy(
        update={"oauth_microsoft_client_id": "app-id", "oauth_microsoft_tenant": "contoso.example"}
    )
    client = oauth_tokens.client_for(settings, "microsoft")
    base = "https://login.microsoftonline.com/contoso.example/oauth2/v2.0"
    assert (client.authorize_url, client.token_url) == (f"{base}/authorize", f"{base}/token")
    assert "offline_access" in client.provider.scopes
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in client.provider.scopes

    def id_token(claims: dict[str, str]) -> dict[str, str]:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return {"id_token": f"e30.{payload}.sig"}

    # a work account's token may carry only preferred_username (or upn)
    assert oauth.address_of(id_token({"preferred_username": "Ana@Contoso.Example"})) == (
        "ana@contoso.example"
    )
    assert oauth.address_of(id_token({"upn": "bo@contoso.example"})) == "bo@contoso.example"
    assert oauth.address_of(id_token({"name": "no address"})) is None
    assert oauth.address_of({"id_token": "not-a-jwt"}) is None


# --- receiving and sending with XOAUTH2 ----------------------------------------------------


async def test_oauthbearer_where_xoauth2_is_not_offered(
    runtime: Runtime, provider: OAuthServer, oauth_dovecot: OAuthDovecot
) -> None:
    bearer_only = OAuthDovecot(provider.url, mechanisms="oauthbearer")
    try:
        await asyncio.to_thread(bearer_only.start)
        account = f"bearer{time.time_ns()}@example.com"
        cfg = EmailChannelSettings(
            email=account,
            imap_host="127.0.0.1",
            smtp_host="127.0.0.1",
            imap_port=bearer_only.imap_port,
            imap_security="none",
        )
        token = oauth_tokens.StaticToken(provider.issue(account, CLIENT_ID)["access_token"])
        network = MailNetwork.from_settings(runtime.settings)
        client = await open_imap(cfg, token, timeout=5, network=network)
        await close_imap(client)
        await asyncio.to_thread(bearer_only.wait_for_log, f"user=<{account}>, method=OAUTHBEARER")
        # and XOAUTH2 where it is offered (what Google and Microsoft document)
        cfg.imap_port = oauth_dovecot.imap_port
        client = await open_imap(cfg, token, timeout=5, network=network)
        await close_imap(client)
        await asyncio.to_thread(oauth_dovecot.wait_for_log, f"user=<{account}>, method=XOAUTH2")
    finally:
        await asyncio.to_thread(bearer_only.close)


async def test_mail_is_received_and_sent_with_xoauth2(
    runtime: Runtime,
    api: TestClient,
    bed: Bed,
    company: CompanyFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, oauth_dovecot, smtp, account = bed.provider, bed.dovecot, bed.smtp, bed.account
    channel = await asyncio.to_thread(connect, api, bed)
    monkeypatch.setattr(mailbox_sync, "BACKOFF_START", 0.3)
    monkeypatch.setattr(mailbox_sync, "BACKOFF_MAX", 1.0)
    email = registry.get("email")
    task = asyncio.create_task(mailbox_sync.run_channel(runtime, email, channel["id"]))
    try:
        await asyncio.to_thread(oauth_dovecot.deliver, account, mail("first", account))
        await wait_for("the first mail", lambda: has_mail(runtime, channel["id"], "first"))
        await wait_for(
            "the channel connected", lambda: _channel(runtime, channel["id"]).status == "connected"
        )
        # the access token expires while the session is open (IDLE); the session is cut:
        # the next login needs a new token, and the mail keeps coming
        provider.expire_access_tokens()
        refreshes = provider.refreshes()
        oauth_dovecot.doveadm("kick", account)
        await asyncio.to_thread(oauth_dovecot.deliver, account, mail("second", account))
        await wait_for("the second mail", lambda: has_mail(runtime, channel["id"], "second"))
        assert provider.refreshes() == refreshes + 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)
    dialog_id, _ = email_dialog(runtime, company.id, channel["id"], ["maria@example.org"])
    message = reply(runtime, company.id, dialog_id, text="Your order ships today.")
    await sender(runtime).run_once()
    got = await asyncio.to_thread(smtp.wait_for, 1)
    assert got[0].auth_login == account
    assert got[0].rcpt_tos == ("maria@example.org",)
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENT


async def test_a_refused_token_is_refreshed_once_and_an_expiring_one_before_use(
    runtime: Runtime, api: TestClient, bed: Bed
) -> None:
    provider, smtp, account = bed.provider, bed.smtp, bed.account
    channel = await asyncio.to_thread(connect, api, bed)
    cfg = settings_of(runtime, channel["id"])
    token = oauth_tokens.ChannelToken(
        runtime, company_id=_channel(runtime, channel["id"]).company_id, channel_id=channel["id"]
    )
    network = MailNetwork.from_settings(runtime.settings)
    # the provider ended the token early: our clock still trusts it, the server refuses it,
    # it is refreshed once and the login goes through
    provider.expire_access_tokens()
    old = stored(runtime, channel["id"])
    refreshes = provider.refreshes()
    seen = len(provider.introspections)
    client = await open_imap(cfg, token, timeout=5, network=network)
    await close_imap(client)
    assert provider.refreshes() == refreshes + 1
    assert [ok for _, ok in provider.introspections[seen:]] == [False, True]
    new = stored(runtime, channel["id"])
    assert new["oauth_access_token"] != old["oauth_access_token"]
    assert new["oauth_refresh_token"] == old["oauth_refresh_token"]
    # a token with less than the margin left is refreshed before it is used: no refusal
    with runtime.db.transaction() as session:
        row = session.get(Channel, channel["id"])
        assert row is not None
        soon = {**new, "oauth_expires": f"{time.time() + oauth_tokens.REFRESH_MARGIN / 2:.0f}"}
        row.secrets = runtime.box.encrypt(json.dumps(soon))
    seen = len(provider.introspections)
    client = await open_imap(cfg, token, timeout=5, network=network)
    await close_imap(client)
    assert provider.refreshes() == refreshes + 2
    assert [ok for _, ok in provider.introspections[seen:]] == [True]
    # and the same on the sending side: refused once, refreshed, accepted
    provider.expire_access_tokens()
    smtp.xoauth2.clear()
    dialog_id, _ = email_dialog(runtime, _channel(runtime, channel["id"]).company_id,
                                channel["id"], ["maria@example.org"])  # fmt: skip
    message = reply(runtime, _channel(runtime, channel["id"]).company_id, dialog_id)
    await sender(runtime).run_once()
    assert smtp.xoauth2 == [(account, False), (account, True)]
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENT


async def test_a_revoked_grant_holds_the_channel_until_it_is_connected_again(
    runtime: Runtime, api: TestClient, bed: Bed, company: CompanyFixture
) -> None:
    provider, smtp, account = bed.provider, bed.smtp, bed.account
    channel = await asyncio.to_thread(connect, api, bed)
    provider.revoke(account)
    provider.expire_access_tokens()
    # the mailbox sync signs in: the refresh is refused, the channel is held at once
    with pytest.raises(MailError) as refused:
        await open_imap(
            settings_of(runtime, channel["id"]),
            oauth_tokens.ChannelToken(runtime, company_id=company.id, channel_id=channel["id"]),
            timeout=5,
            network=MailNetwork.from_settings(runtime.settings),
        )
    assert str(refused.value) == oauth_tokens.GRANT_REVOKED
    row = _channel(runtime, channel["id"])
    assert (row.status, row.send_held, row.last_error) == (
        "error",
        True,
        oauth_tokens.GRANT_REVOKED,
    )
    # the revoked tokens are forgotten: the sync's retries ask the provider nothing more
    refreshes = provider.refreshes()
    token = oauth_tokens.ChannelToken(runtime, company_id=company.id, channel_id=channel["id"])
    for _ in range(3):
        with pytest.raises(oauth_tokens.GrantGone):
            await token.get()
    assert provider.refreshes() == refreshes
    assert set(stored(runtime, channel["id"])) & oauth_tokens.OAUTH_TOKEN_KEYS == set()
    # the operator reads what happened and what to do
    words = failure_words(row.last_error, lambda s: s, channel=True)
    assert words.kind == "oauth_revoked"
    assert words.sentence == (
        "The mailbox's sign-in (Google or Microsoft) was revoked or has expired: "
        "connect the account again"
    )
    # a reply waits with the channel, spending no attempt
    dialog_id, _ = email_dialog(runtime, company.id, channel["id"], ["maria@example.org"])
    message = reply(runtime, company.id, dialog_id, text="Held until reconnected.")
    await sender(runtime).run_once()
    held = load(runtime, message.id)
    assert held.delivery_status == DeliveryStatus.QUEUED
    assert held.attempts == 0
    assert len(smtp) == 0
    # the admin connects the account again (same channel): the held message goes out
    url = await asyncio.to_thread(start, api, channel_id=channel["id"])
    answer = await asyncio.to_thread(api.get, consent(url))
    assert answer.status_code == 200, answer.text
    again = _channel(runtime, channel["id"])
    assert (again.status, again.send_held, again.last_error) == ("connecting", False, None)
    assert again.reconnect_requested is True
    await sender(runtime).run_once()
    got = await asyncio.to_thread(smtp.wait_for, 1)
    assert got[0].auth_login == account
    assert load(runtime, message.id).delivery_status == DeliveryStatus.SENT
