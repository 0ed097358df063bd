"""The automation settings pages in headless Chromium against a real ``atendo serve`` (its
workers run the automation): an admin saves a greeting in the browser; a client's message
gets it; the survey is answered and shows in the report. Every page is saved in pt-BR and en,
at desktop and phone sizes, under ``test-output/screenshots/``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.panel.test_browser import browser, server, shot  # noqa: F401 (fixtures)
from tests.panel.test_browser_external import _company

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def _wait_for(check: object, what: str, seconds: float = 20) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()  # type: ignore[operator]
        if got:
            return got
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def test_automation_settings_pages_in_both_languages_and_sizes(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    company = _company(tmp_path)
    api = httpx.Client(base_url=server, headers={"Authorization": company["api_token"]})
    chat = api.post("/v1/channels", json={"transport": "external", "name": "WhatsApp"})
    chat_id = chat.json()["data"]["id"]
    top = api.post(
        "/v1/scenarios/menu_items",
        json={"channel_id": chat_id, "command": "1", "name": "Vendas", "text": "Escolha o tipo:"},
    )
    for command, name in (("1", "Novos"), ("2", "Usados")):
        api.post(
            "/v1/scenarios/menu_items",
            json={
                "channel_id": chat_id,
                "parent_id": top.json()["data"]["id"],
                "command": command,
                "name": name,
                "text": f"{name}: um vendedor já vem",
            },
        )
    api.post(
        "/v1/scenarios/menu_items",
        json={
            "channel_id": chat_id,
            "command": "2",
            "name": "Suporte",
            "text": "Descreva o problema",
            "close": False,
        },
    )
    rating = api.post(
        "/v1/ratings",
        json={
            "name": "CSAT",
            "question": "De 1 a 5, como foi o atendimento?",
            "scale": [
                {"value": 1, "answers": ["1", "ruim"], "thanks": "Sentimos muito."},
                {"value": 5, "answers": ["5", "ótimo"], "thanks": "Obrigado!"},
            ],
        },
    )
    assert rating.status_code == 201, rating.text  # fmt: skip

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(server + "/login")
    page.get_by_test_id("login-email").fill("ana@loja.example")
    page.get_by_test_id("login-password").fill("uma senha longa")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))

    # The admin writes the greeting in the browser and saves.
    page.goto(f"{server}/settings/channels/{chat_id}/automation")
    page.get_by_test_id("greeting-new-in").fill("Olá! Bem-vindo ao {canal.nome}.")
    page.get_by_test_id("greeting-new-out").fill("Estamos fora do horário; voltamos às 9h.")
    page.get_by_test_id("menu-enabled").check()
    page.get_by_test_id("menu-invitation").fill("Escolha uma opção:")
    page.get_by_test_id("automation-save").click()
    expect(page.get_by_test_id("automation-saved")).to_be_visible()

    # A client writes: the server's workers greet and offer the menu.
    inbox = api.post("/v1/messages/inbox", json={"channel_id": chat_id, "body": "Oi",
                     "from_client": {"phone": "+5511977776666", "nickname": "Bia"}})  # fmt: skip
    dialog_id = inbox.json()["data"]["dialog_id"]
    client_id = inbox.json()["data"]["client_id"]

    def autoreplies() -> list[str]:
        rows = api.get("/v1/messages", params={"dialog_id": dialog_id, "type": "autoreply",
                                               "order": "asc"}).json()["data"]  # fmt: skip
        return [m["text"] for m in rows]

    greeted = _wait_for(lambda: len(autoreplies()) >= 2 and autoreplies(), "the greeting")
    assert greeted[1] == "Escolha uma opção:\n\n1 - Vendas\n2 - Suporte"  # type: ignore[index]
    assert greeted[0] in (  # type: ignore[index]
        "Olá! Bem-vindo ao WhatsApp.",
        "Estamos fora do horário; voltamos às 9h.",
    )
    # An operator answers and closes; the client rates.
    r = api.post("/v1/messages", json={"client_id": client_id, "text": "Olá, Bia!",
                                       "operator_id": int(company["operator_id"]),
                                       "channel_id": chat_id})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    api.put(f"/v1/dialogs/{dialog_id}", json={"operator_id": int(company["operator_id"])})
    api.put(f"/v1/dialogs/{dialog_id}", json={"state": "closed"})
    _wait_for(lambda: "De 1 a 5, como foi o atendimento?" in autoreplies(), "the survey")
    api.post("/v1/messages/inbox", json={"channel_id": chat_id, "body": "5",
                                         "from_client": {"id": client_id}})  # fmt: skip
    _wait_for(lambda: "Obrigado!" in autoreplies(), "the thanks")

    pages = {
        "automation": f"/settings/channels/{chat_id}/automation",
        "menu": f"/settings/channels/{chat_id}/menu",
        "ratings": "/settings/ratings",
        "ratings-report": "/settings/ratings/report",
    }
    for language in ("pt-BR", "en"):
        if language == "en":
            page.goto(server + "/me")
            page.get_by_test_id("preferences-language").select_option("en")
            page.get_by_test_id("preferences-save").click()
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            for name, path in pages.items():
                page.goto(server + path)
                expect(page.locator("h1")).to_be_visible()
                shot(page, f"automation-{name}-{language}-{size}")
        page.goto(server + pages["ratings-report"])
        expect(page.get_by_test_id("report-chats")).to_contain_text("5")
        expect(page.get_by_test_id("report-operators")).to_contain_text("5.00")
    page.goto(server + pages["automation"])
    expect(page.get_by_test_id("automation-save")).to_have_text("Save")
    context.close()
