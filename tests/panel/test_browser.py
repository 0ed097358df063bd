"""The panel end to end in headless Chromium, against a real ``atendo serve`` (own SQLite and
data folder, workers in-process), the real Dovecot and the real aiosmtpd server.

One story, step by step, as a support team lives it: first visit creates the company; connect a
mailbox (a wrong password shows why, the right one ends "connected"); signatures; a new chat to
two addresses; the clock; the eye; interrupt; a reply that is sent and arrives with the
signature; the client's answer appears live; an operator cannot open the settings. Every screen
is saved under ``test-output/screenshots/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest

from tests.servers.fixtures import Mailbox
from tests.servers.require import unavailable
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = os.environ.get("ATENDO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
LONG = 30_000  # ms: mail round trips through the real servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real ``atendo serve`` subprocess on a free port; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(tmp_path / "data"),
        "ATENDO_DATABASE_URL": f"sqlite:///{tmp_path / 'atendo.db'}",
        "ATENDO_SECRET_KEY": "browser-test-secret",
        "ATENDO_IMAP_POLL_INTERVAL": "1",
        "ATENDO_WORKER_TICK": "0.5",
        "ATENDO_CONNECT_TIMEOUT": "15",
        "ATENDO_LOG_LEVEL": "WARNING",
        # Presence on a chat travels only as it changes (the panel's "still here" an hour
        # apart): what a browser test sees of it was pushed.
        "ATENDO_PANEL_PRESENCE_KEEPALIVE": "3600",
        # the test's Dovecot and SMTP servers listen on loopback
        "ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS": "true",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "atendo", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if proc.poll() is not None:
                break
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("atendo serve did not start")
        if proc.poll() is not None:
            pytest.fail("atendo serve exited: " + (tmp_path / "serve.log").read_text()[-3000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium: {CHROMIUM} not found (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def watch_csp(page: object, violations: list[str]) -> None:
    """Collect the Content-Security-Policy refusals Chromium reports on the console."""

    def seen(msg: object) -> None:
        text = str(msg.text)  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            violations.append(text)

    page.on("console", seen)  # type: ignore[attr-defined]


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)  # type: ignore[attr-defined]


def test_panel_end_to_end(
    server: str, browser: object, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 800}, locale="pt-BR"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    csp_violations: list[str] = []
    watch_csp(page, csp_violations)
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@acme.example"
    admin_password = "senha forte 123"

    # 1. First visit on an empty installation: create the company and its admin.
    page.goto(server + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    shot(page, "01-setup")
    page.get_by_test_id("setup-company").fill("Acme Ltda")
    page.get_by_test_id("setup-name").fill("Ana Admin")
    page.get_by_test_id("login-email").fill(admin_email)
    page.get_by_test_id("login-password").fill(admin_password)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))
    expect(page.get_by_test_id("dialog-list")).to_be_visible()

    # Sign out and in again through the sign-in screen.
    page.get_by_role("button", name="Sair").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    shot(page, "02-login")
    page.get_by_test_id("login-email").fill(admin_email)
    page.get_by_test_id("login-password").fill(admin_password)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))
    shot(page, "03-chats-empty")

    # 2. Contas e Canais: a wrong password shows the reason; the right one connects.
    page.goto(server + "/settings/channels/new")

    def fill_channel(password: str) -> None:
        page.get_by_test_id("channel-email").fill(mailbox.email)
        page.get_by_test_id("channel-sender-name").fill("Suporte Acme")
        page.get_by_test_id("channel-imap-host").fill(mailbox.host)
        page.get_by_test_id("channel-imap-port").fill(str(mailbox.imap_port))
        page.get_by_test_id("channel-imap-security").select_option("none")
        page.get_by_test_id("channel-password").fill(password)
        page.get_by_test_id("channel-smtp-host").fill(smtp_server.host)
        page.get_by_test_id("channel-smtp-port").fill(str(smtp_server.port))
        page.get_by_test_id("channel-smtp-security").select_option("none")
        page.get_by_test_id("channel-send-delay").fill("60")
        page.get_by_test_id("channel-settings-ok").click()

    fill_channel("wrong password")
    error = page.get_by_test_id("channel-error")
    expect(error).to_be_visible(timeout=LONG)
    expect(error).to_contain_text("IMAP")
    shot(page, "04-channel-wrong-password")
    fill_channel(mailbox.password)
    expect(page).to_have_url(re.compile(r"/settings/channels"), timeout=LONG)
    row = page.get_by_test_id("channel-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("channel-status")).to_have_attribute(
        "data-status", "connected", timeout=LONG
    )
    shot(page, "05-channels")

    # 3. Signatures: the admin's own and the general one, both switches on.
    row.get_by_test_id("channel-edit").click()
    shot(page, "06-channel-settings")
    page.get_by_test_id("channel-signatures-tab").click()
    page.get_by_test_id("signatures-operators-enabled").check()
    page.get_by_test_id("signatures-general-enabled").check()
    expect(page.get_by_test_id("signature-operator")).to_contain_text("Ana Admin")
    page.get_by_test_id("signature-text").fill("Atenciosamente,\n{operator.first_name} — Acme")
    page.get_by_test_id("signature-general").fill("Equipe Acme")
    page.get_by_test_id("signatures-save").click()
    expect(page.get_by_test_id("signatures-saved")).to_be_visible()
    shot(page, "07-signatures")

    # 4. New outbound chat to two addresses with "+"; the first e-mail waits (the clock).
    first, second = "cliente.um@cliente.example", "cliente.dois@cliente.example"
    page.get_by_test_id("new-chat").click()
    expect(page.get_by_test_id("new-chat-channel")).to_contain_text(mailbox.email)
    page.get_by_test_id("new-chat-email").first.fill(first)
    page.get_by_test_id("new-chat-add-email").click()
    page.get_by_test_id("new-chat-email").nth(1).fill(second)
    page.get_by_test_id("new-chat-subject").fill("Seu pedido 4821")
    page.get_by_test_id("new-chat-text").fill("Olá! Seu pedido foi enviado hoje.")
    expect(page.get_by_test_id("new-chat-only-create")).not_to_be_checked()
    shot(page, "08-new-chat")
    page.get_by_test_id("new-chat-submit").click()
    expect(page).to_have_url(re.compile(r"/chats/\d+$"))
    dialog_url = page.url
    queued = page.get_by_test_id("message-status")
    expect(queued).to_have_attribute("data-status", "queued")
    expect(queued).to_contain_text("envio em")
    expect(page.get_by_test_id("composer-signature")).to_contain_text("Atenciosamente")
    shot(page, "09-dialog-queued")

    # 5. The eye: recipients, subject, Message-ID, history; interrupt; put the text back.
    page.get_by_test_id("message-details").first.click()
    details = page.get_by_test_id("message-details-panel")
    expect(details).to_contain_text(first)
    expect(details).to_contain_text(second)
    expect(details).to_contain_text("Seu pedido 4821")
    shot(page, "10-message-details")
    page.get_by_test_id("interrupt-send").click()
    expect(page.get_by_test_id("message-status").first).to_have_attribute(
        "data-status", "cancelled"
    )
    page.get_by_test_id("put-back").click()
    expect(page.get_by_test_id("composer-text")).to_have_value("Olá! Seu pedido foi enviado hoje.")
    shot(page, "11-interrupted")

    # 6. A short send delay, then a reply that leaves and arrives with the signature.
    page.goto(server + "/settings/channels")
    page.get_by_test_id("channel-edit").click()
    page.get_by_test_id("channel-send-delay").fill("1")
    page.get_by_test_id("channel-settings-ok").click()
    expect(page).to_have_url(re.compile(r"/settings/channels"), timeout=LONG)
    # ... and a reply template, picked in the composer by typing "/" and its shortcut.
    page.goto(server + "/settings/templates")
    templates = page.locator("form[action='/settings/templates']")
    templates.locator("[name=name]").fill("Rastreio")
    templates.locator("[name=command]").fill("rastreio")
    templates.locator("[name=text]").fill("Segue o código de rastreio: BR123456789.")
    templates.get_by_role("button").click()
    expect(page.get_by_text("/rastreio")).to_be_visible()
    page.goto(dialog_url)
    page.get_by_test_id("composer-text").press_sequentially("/rast")
    expect(page.get_by_test_id("template-option")).to_contain_text("Rastreio")
    page.get_by_test_id("composer-text").press("Enter")
    expect(page.get_by_test_id("composer-text")).to_have_value(
        "Segue o código de rastreio: BR123456789."
    )
    page.get_by_test_id("composer-send").click()
    statuses = page.get_by_test_id("message-status")
    expect(statuses).to_have_count(2)
    expect(statuses.nth(1)).to_have_attribute("data-status", "sent", timeout=LONG)
    shot(page, "12-sent")
    received = smtp_server.wait_for(1, timeout=LONG / 1000)
    assert len(received) == 1
    mail = received[0]
    assert {first, second} <= set(mail.rcpt_tos)
    parsed = message_from_bytes(mail.raw, policy=default_policy)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "BR123456789" in body
    assert "Atenciosamente" in body and "Ana" in body  # the operator's signature, rendered
    assert mail.message_id
    message_id = [mail.message_id if mail.message_id.startswith("<") else f"<{mail.message_id}>"]

    # 7. The client answers: it appears live in the list and in the open dialog.
    reply = (
        f"From: Cliente Um <{first}>\r\nTo: {mailbox.email}\r\nSubject: Re: Seu pedido 4821\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@cliente.example>\r\nIn-Reply-To: {message_id[0]}\r\n"
        f"References: {message_id[0]}\r\nDate: Wed, 25 Nov 2026 11:00:00 -0300\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Recebi, muito obrigado pela ajuda!\r\n"
    ).encode()
    mailbox.deliver(reply, sender=first)
    expect(page.get_by_test_id("message").last).to_contain_text("muito obrigado", timeout=LONG)
    expect(page.get_by_test_id("dialog-item").first).to_contain_text("muito obrigado", timeout=LONG)
    shot(page, "13-client-reply-live")

    # 8. An operator: created by the admin, cannot open the settings.
    page.goto(server + "/settings/operators")
    shot(page, "14-operators")
    form = page.locator("form[action='/settings/operators']")
    form.locator("[name=name]").fill("Otávio Operador")
    form.locator("[name=email]").fill("operador@acme.example")
    form.locator("[name=password]").fill("senha do operador")
    form.get_by_role("button").click()
    expect(page.get_by_text("operador@acme.example")).to_be_visible()
    other = browser.new_context(viewport={"width": 1024, "height": 768})  # type: ignore[attr-defined]
    op_page = other.new_page()
    watch_csp(op_page, csp_violations)
    op_page.goto(server + "/login")
    op_page.get_by_test_id("login-email").fill("operador@acme.example")
    op_page.get_by_test_id("login-password").fill("senha do operador")
    op_page.get_by_test_id("login-submit").click()
    expect(op_page).to_have_url(re.compile(r"/chats$"))
    expect(op_page.get_by_test_id("dialog-list")).to_be_visible()
    shot(op_page, "15-operator-chats-1024")
    response = op_page.goto(server + "/settings/channels")
    assert response is not None and response.status == 403
    shot(op_page, "16-operator-settings-403")

    # 9. The operator's own preferences, from the header: time zone, then sign out everywhere.
    op_page.goto(server + "/chats")
    op_page.get_by_test_id("preferences-link").click()
    expect(op_page).to_have_url(re.compile(r"/me$"))
    op_page.get_by_test_id("preferences-timezone").select_option("Asia/Tokyo")
    op_page.get_by_test_id("preferences-save").click()
    expect(op_page.get_by_test_id("preferences-notice")).to_be_visible()
    expect(op_page.get_by_test_id("preferences-timezone")).to_have_value("Asia/Tokyo")
    shot(op_page, "17-preferences")
    op_page.on("dialog", lambda dialog: dialog.accept())
    op_page.get_by_test_id("sign-out-everywhere").click()
    expect(op_page).to_have_url(re.compile(r"/login$"))
    other.close()
    context.close()
    # The whole story ran under the panel's CSP without one refused script, style or frame.
    assert csp_violations == []
