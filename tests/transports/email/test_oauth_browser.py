"""An OAuth mailbox connected from the panel, in headless Chromium against a real ``atendo
serve``: the admin presses "Conectar com Google", consents on the (local) provider's page, comes
back to *Contas e Canais* with the channel connected and mail flowing over XOAUTH2; the grant is
revoked, the channel says so with a "Reconectar a conta" button, and pressing it connects the
account again. Screens in pt-BR and en, desktop and phone, under ``test-output/screenshots/``.

The servers: the local authorization server (tests/servers/oauth.py) registered as this
installation's "google", a Dovecot whose oauth2 passdb introspects every login there, and an
aiosmtpd server doing the same for AUTH XOAUTH2."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.panel.test_browser import browser, server, shot, watch_csp  # noqa: F401 (fixtures)
from tests.panel.test_browser_external import _company
from tests.servers.oauth import OAuthDovecot, OAuthServer, XOAuth2SmtpServer
from tests.servers.oauth import oauth_dovecot as running_oauth_dovecot

pytestmark = pytest.mark.browser

CLIENT_ID, CLIENT_SECRET = "atendo-browser-client", "atendo-browser-secret"
LONG = 30_000
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def provider() -> Iterator[OAuthServer]:
    local = OAuthServer().start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def served(
    request: pytest.FixtureRequest, provider: OAuthServer, monkeypatch: pytest.MonkeyPatch
) -> str:
    """``atendo serve`` with the local provider as its Google; the provider knows its
    redirect URI."""
    for key, value in {
        "ATENDO_OAUTH_GOOGLE_CLIENT_ID": CLIENT_ID,
        "ATENDO_OAUTH_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "ATENDO_OAUTH_GOOGLE_AUTHORIZE_URL": provider.url + "/authorize",
        "ATENDO_OAUTH_GOOGLE_TOKEN_URL": provider.url + "/token",
        "ATENDO_MAILBOX_BACKOFF_START": "0.3",
        "ATENDO_MAILBOX_BACKOFF_MAX": "1",
    }.items():
        monkeypatch.setenv(key, value)
    base: str = request.getfixturevalue("server")
    provider.add_client(CLIENT_ID, CLIENT_SECRET, base + "/oauth/callback")
    return base


@pytest.fixture
def oauth_dovecot(provider: OAuthServer) -> Iterator[OAuthDovecot]:
    with running_oauth_dovecot(provider.url) as bed:
        yield bed


def _mail(to: str) -> bytes:
    return (
        f"From: Ana Souza <ana@cliente.example>\r\nTo: {to}\r\nSubject: Pedido 4711\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@cliente.example>\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 -0300\r\n\r\nO pedido 4711 chegou?\r\n"
    ).encode()


def _status(page: Any, base: str, wanted: str) -> None:
    """Reload *Contas e Canais* until the channel shows ``wanted`` (the worker's pace)."""
    deadline = time.monotonic() + LONG / 1000
    row = page.get_by_test_id("channel-status").first
    while time.monotonic() < deadline:
        page.goto(base + "/settings/channels")
        if row.get_attribute("data-status") == wanted:
            return
        time.sleep(0.5)
    pytest.fail(f"the channel did not become {wanted}: {row.get_attribute('data-status')}")


def test_connect_with_google_then_reconnect_after_a_revoked_grant(
    served: str,
    browser: object,  # noqa: F811
    tmp_path: Path,
    provider: OAuthServer,
    oauth_dovecot: OAuthDovecot,
) -> None:
    from playwright.sync_api import expect

    base = served
    company = _company(tmp_path)
    account = f"suporte{uuid.uuid4().hex[:8]}@loja.example"
    provider.consent_as = account
    smtp = XOAuth2SmtpServer(provider.url).start()
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 800}, locale="pt-BR"
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        violations: list[str] = []
        watch_csp(page, violations)
        page.goto(base + "/login")
        page.get_by_test_id("login-email").fill("ana@loja.example")
        page.get_by_test_id("login-password").fill("uma senha longa")
        page.get_by_test_id("login-submit").click()
        page.wait_for_url("**/chats")
        # The new-mailbox form: the servers (the test's), then "Conectar com Google"
        page.goto(base + "/settings/channels/new?transport=email")
        expect(page.get_by_test_id("channel-oauth-redirect")).to_contain_text(
            base + "/oauth/callback"
        )
        page.get_by_test_id("channel-email").fill(account)
        for name, value in {
            "imap-host": "127.0.0.1", "imap-port": str(oauth_dovecot.imap_port),
            "smtp-host": "127.0.0.1", "smtp-port": str(smtp.port), "name": "Suporte Google",
        }.items():  # fmt: skip
            page.get_by_test_id(f"channel-{name}").fill(value)
        page.get_by_test_id("channel-imap-security").select_option("none")
        page.get_by_test_id("channel-smtp-security").select_option("none")
        page.get_by_test_id("channel-oauth-google").click()
        # The provider's consent page (another origin), then back
        expect(page.get_by_test_id("consent-allow")).to_be_visible()
        assert page.url.startswith(provider.url + "/authorize?")
        page.get_by_test_id("consent-allow").click()
        page.wait_for_url("**/settings/channels?oauth=connected*")
        expect(page.get_by_test_id("oauth-notice")).to_have_text("A caixa está conectada.")
        row = page.get_by_test_id("channel-row")
        expect(row).to_contain_text("Suporte Google")
        expect(row).to_contain_text(account)
        _status(page, base, "connected")
        # mail comes in over XOAUTH2
        oauth_dovecot.deliver(account, _mail(account))
        api = httpx.Client(
            base_url=base, headers={"Authorization": company["api_token"]}, timeout=10
        )
        deadline = time.monotonic() + 30
        while not api.get("/v1/dialogs").json()["data"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(api.get("/v1/dialogs").json()["data"]) == 1
        assert smtp.xoauth2 == [(account, True)]  # the connection test sent with XOAUTH2
        # The user withdraws Atendo's access; the session ends (as Gmail's does with its token)
        provider.revoke(account)
        provider.expire_access_tokens()
        oauth_dovecot.doveadm("kick", account)
        _status(page, base, "error")
        expect(page.get_by_test_id("channel-error-words")).to_have_text(
            "O acesso à caixa (Google ou Microsoft) foi revogado ou expirou: reconecte a conta"
        )
        reconnect = page.get_by_test_id("channel-oauth-reconnect")
        expect(reconnect).to_have_text("Reconectar a conta")
        shot(page, "oauth-revoked-pt-BR-desktop")
        reconnect.click()
        page.get_by_test_id("consent-allow").click()
        page.wait_for_url("**/settings/channels?oauth=connected*")
        _status(page, base, "connected")
        assert violations == []
        _screens(page, base)
    finally:
        context.close()
        smtp.stop()


def _screens(page: Any, base: str) -> None:
    """The form with its buttons, the list and the channel's page, in both languages and
    sizes (the operator's language is their preference)."""
    for language in ("pt_BR", "en"):
        page.goto(base + "/me")
        page.get_by_test_id("preferences-language").select_option(language)
        page.get_by_test_id("preferences-save").click()
        page.wait_for_load_state("networkidle")
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(base + "/settings/channels/new?transport=email")
            page.get_by_test_id("channel-oauth").scroll_into_view_if_needed()
            shot(page, f"oauth-form-{language}-{size}")
            page.goto(base + "/settings/channels")
            shot(page, f"oauth-channels-{language}-{size}")
            page.get_by_test_id("channel-edit").first.click()
            page.wait_for_load_state("networkidle")
            shot(page, f"oauth-channel-{language}-{size}")
