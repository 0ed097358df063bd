"""E-mail conversations in headless Chromium against a real ``atendo serve``, the real Dovecot
and aiosmtpd: the composer's To/Cc/Bcc chips (reply-all computed on the server), a draft that
survives a reload and a switch to another dialog, the send with a chip removed and a Bcc added
(checked on the SMTP server's envelope and headers), and the admins' *Hidden mail* page.
Screens in pt-BR and en, desktop and phone, under ``test-output/screenshots/``."""

from __future__ import annotations

import re
import time
import uuid
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.panel.test_browser import browser, server, shot, watch_csp  # noqa: F401 (fixtures)
from tests.panel.test_browser_external import _company
from tests.servers.fixtures import Mailbox
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.browser

LONG = 30_000
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def _client_mail(ours: str) -> bytes:
    return (
        "From: Ana Souza <ana@cliente.example>\r\n"
        f"To: {ours}, Carla Lima <carla@cliente.example>\r\n"
        "Cc: boss@cliente.example\r\nSubject: Pedido 4700 atrasado\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@cliente.example>\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 -0300\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Bom dia! O pedido 4700 ainda não chegou. Copiei a Carla e meu gestor.\r\n"
    ).encode()


def _other_mail(ours: str) -> bytes:
    return (
        f"From: bruno@outro.example\r\nTo: {ours}\r\nSubject: Troca de tamanho\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@outro.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nQuero trocar o tamanho.\r\n"
    ).encode()


def _own_copy(address: str) -> bytes:
    return (
        f"From: {address}\r\nTo: fornecedor@parceiro.example\r\nSubject: Cópia do pedido\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@acme.example>\r\n\r\nCópia enviada por nós.\r\n"
    ).encode()


def _nameless_bounce() -> bytes:
    return (
        "From: MAILER-DAEMON@mx.parceiro.example\r\nTo: suporte@acme.example\r\n"
        f"Subject: Delivery failure\r\nMessage-ID: <{uuid.uuid4().hex}@mx.parceiro.example>\r\n"
        "\r\nYour message could not be delivered.\r\n"
    ).encode()


def _wait_dialogs(api: httpx.Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows: list[dict[str, Any]] = api.get("/v1/dialogs", params={"limit": 50}).json()["data"]
        if len(rows) >= count:
            return rows
        time.sleep(0.3)
    pytest.fail(f"the mailbox sync did not bring {count} dialogs in")


def test_composer_recipients_drafts_and_hidden_mail(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpServer,
) -> None:
    from playwright.sync_api import expect

    company = _company(tmp_path)
    api = httpx.Client(base_url=server, headers={"Authorization": company["api_token"]}, timeout=60)
    created = api.post(
        "/v1/channels",
        json={
            "transport": "email", "name": "Suporte", "email": mailbox.email,
            "sender_name": "Suporte Acme", "imap_host": mailbox.host,
            "imap_port": mailbox.imap_port, "imap_security": "none",
            "password": mailbox.password, "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port, "smtp_security": "none", "send_delay": 0,
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    for raw in (
        _client_mail(mailbox.email),
        _other_mail(mailbox.email),
        _own_copy(mailbox.email),
        _nameless_bounce(),
    ):
        mailbox.deliver(raw)
    dialogs = _wait_dialogs(api, 2)
    by_subject = {d["subject"]: d["id"] for d in dialogs}
    main, other = by_subject["Pedido 4700 atrasado"], by_subject["Troca de tamanho"]

    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 800}, locale="pt-BR"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    csp: list[str] = []
    watch_csp(page, csp)
    page.goto(server + "/login")
    page.get_by_test_id("login-email").fill("ana@loja.example")
    page.get_by_test_id("login-password").fill("uma senha longa")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))

    def chips(name: str) -> list[str]:
        box = page.get_by_test_id(f"composer-{name}")
        return [str(a) for a in box.locator("[data-address]").evaluate_all(
            "els => els.map(e => e.dataset.address)"
        )]  # fmt: skip

    # Reply-all, computed on the server when the composer opens.
    page.goto(f"{server}/chats/{main}")
    expect(page.get_by_test_id("composer-text")).to_be_visible()
    assert chips("to") == ["ana@cliente.example"]
    assert chips("cc") == ["carla@cliente.example", "boss@cliente.example"]
    assert chips("bcc") == []
    expect(page.get_by_test_id("composer-subject")).to_have_value("Re: Pedido 4700 atrasado")

    # Edit: drop the boss from Cc, add a Bcc, write; the draft is saved on the server.
    page.get_by_test_id("composer-cc").locator("[data-address='boss@cliente.example'] .x").click()
    page.get_by_test_id("composer-show-bcc").click()
    page.get_by_test_id("composer-bcc-input").fill("arquivo@acme.local")
    page.get_by_test_id("composer-bcc-input").press("Enter")
    page.get_by_test_id("composer-text").fill("Olá, Ana! O pedido 4700 sai hoje.")
    expect(page.get_by_test_id("draft-state")).to_have_text("Rascunho salvo", timeout=LONG)
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.get_by_test_id("composer-text").scroll_into_view_if_needed()
        shot(page, f"email-composer-cc-bcc-pt-{name}")
    page.set_viewport_size({"width": 1280, "height": 800})

    # The draft survives a reload and a switch to another dialog.
    page.reload()
    expect(page.get_by_test_id("composer-text")).to_have_value("Olá, Ana! O pedido 4700 sai hoje.")
    assert chips("cc") == ["carla@cliente.example"]
    assert chips("bcc") == ["arquivo@acme.local"]
    page.goto(f"{server}/chats/{other}")
    expect(page.get_by_test_id("composer-text")).to_have_value("")
    assert chips("to") == ["bruno@outro.example"]
    page.goto(f"{server}/chats/{main}")
    expect(page.get_by_test_id("composer-text")).to_have_value("Olá, Ana! O pedido 4700 sai hoje.")
    assert chips("bcc") == ["arquivo@acme.local"]

    # Send: the envelope has the Bcc, the headers do not; the eye shows who received it.
    page.get_by_test_id("composer-send").click()
    expect(page.locator("#messages")).to_contain_text("O pedido 4700 sai hoje.")
    expect(page.get_by_test_id("composer-text")).to_have_value("")
    deadline = time.monotonic() + 30
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    (got,) = smtp_server.messages
    assert list(got.rcpt_tos) == [
        "ana@cliente.example",
        "carla@cliente.example",
        "arquivo@acme.local",
    ]
    mail = message_from_bytes(got.raw, policy=default_policy)
    assert (str(mail["To"]), str(mail["Cc"]), mail["Bcc"]) == (
        "ana@cliente.example", "carla@cliente.example", None,
    )  # fmt: skip
    page.get_by_test_id("message-details").last.click()
    expect(page.get_by_test_id("details-bcc")).to_have_text("arquivo@acme.local")
    page.reload()
    expect(page.get_by_test_id("composer-text")).to_have_value("")  # the draft went with it

    # A chat created without a subject: sending without one is refused in words.
    channel_id = created.json()["data"]["id"]
    new = api.post("/v1/dialogs", json={"channel_id": channel_id, "emails": ["novo@cliente.lan"]})
    assert new.status_code == 200, new.text
    page.goto(f"{server}/chats/{new.json()['data']['dialog_id']}")
    assert chips("to") == ["novo@cliente.lan"]
    page.get_by_test_id("composer-text").fill("Olá!")
    page.get_by_test_id("composer-send").click()
    expect(page.locator("#composer-note")).to_have_text(
        "Escreva um assunto: esta conversa ainda não tem um para responder."
    )
    shot(page, "email-composer-subject-required-pt-desktop")

    # The admins' Hidden mail page: our own copy and a bounce naming nobody, each with why.
    hidden_rows = page.get_by_test_id("hidden-row")
    page.goto(f"{server}/settings/hidden")
    expect(hidden_rows).to_have_count(2, timeout=LONG)
    reasons = hidden_rows.evaluate_all("els => els.map(e => e.dataset.reason)")
    assert sorted(reasons) == ["bounce", "own"]
    expect(page.get_by_test_id("hidden-list")).to_contain_text("Enviada pelo próprio endereço")
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        shot(page, f"email-hidden-pt-{name}")

    # The same screens in English (the operator's language).
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{server}/me")
    page.get_by_test_id("preferences-language").select_option("en")
    page.get_by_test_id("preferences-save").click()
    page.goto(f"{server}/settings/hidden")
    expect(page.get_by_test_id("hidden-list")).to_contain_text(
        "Sent from the channel's own address"
    )
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        shot(page, f"email-hidden-en-{name}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{server}/chats/{other}")
    page.get_by_test_id("composer-show-bcc").click()
    page.get_by_test_id("composer-cc-input").fill("gerente@outro.example, financeiro@outro.example")
    page.get_by_test_id("composer-cc-input").press("Enter")
    page.get_by_test_id("composer-bcc-input").fill("arquivo@acme.local")
    page.get_by_test_id("composer-bcc-input").press("Tab")
    assert chips("cc") == ["gerente@outro.example", "financeiro@outro.example"]
    expect(page.get_by_test_id("draft-state")).to_have_text("Draft saved", timeout=LONG)
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.get_by_test_id("composer-text").scroll_into_view_if_needed()
        shot(page, f"email-composer-cc-bcc-en-{name}")
    assert csp == []
    context.close()
