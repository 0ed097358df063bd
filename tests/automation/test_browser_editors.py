"""The schedule, menu and survey editors in headless Chromium against a real ``atendo serve``:
a second span added to a day in the page, a menu item moved and edited, a survey's score
added — each saved and read back through the API. Every editor is saved in pt-BR, en and es, at
desktop and phone sizes (whole pages), under ``test-output/screenshots/``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.panel.test_browser import SHOTS, browser, server, watch_csp  # noqa: F401 (fixtures)
from tests.panel.test_browser_external import _company

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def test_the_editors_in_the_browser(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    company = _company(tmp_path)
    api = httpx.Client(base_url=server, headers={"Authorization": company["api_token"]})
    chat_id = api.post("/v1/channels", json={"transport": "external", "name": "WhatsApp"}).json()[
        "data"
    ]["id"]
    items = {}
    for command, name in (("1", "Vendas"), ("2", "Suporte"), ("3", "Financeiro")):
        body = {"channel_id": chat_id, "command": command, "name": name,
                "text": f"{name}: escolha", "position": int(command)}  # fmt: skip
        r = api.post("/v1/scenarios/menu_items", json=body)
        items[name] = r.json()["data"]["id"]
    child = {"channel_id": chat_id, "command": "1", "name": "Novos",
             "parent_id": items["Vendas"], "text": "Um vendedor já vem"}  # fmt: skip
    api.post("/v1/scenarios/menu_items", json=child)
    rating = api.post("/v1/ratings", json={"name": "CSAT", "question": "Como foi o atendimento?",
                      "scale": [{"value": 5, "answers": ["5", "ótimo"], "thanks": "Obrigado!"},
                                {"value": 1, "answers": ["1", "ruim"],
                                 "thanks": "Sentimos muito."}]}).json()["data"]  # fmt: skip

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    csp: list[str] = []
    watch_csp(page, csp)
    page.goto(server + "/login")
    page.get_by_test_id("login-email").fill("ana@loja.example")
    page.get_by_test_id("login-password").fill("uma senha longa")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))

    # Monday gets two spans: the second added in the page, no round trip.
    automation = f"{server}/settings/channels/{chat_id}/automation"
    page.goto(automation)
    page.get_by_test_id("open-1").check()
    page.get_by_test_id("start-1-0").fill("08:00")
    page.get_by_test_id("end-1-0").fill("12:00")
    page.get_by_test_id("add-span-1").click()
    second = page.get_by_test_id("day-1").locator("[data-span]").nth(1)
    second.locator("input").nth(0).fill("13:00")
    second.locator("input").nth(1).fill("18:00")
    page.get_by_test_id("open-6").check()
    page.get_by_test_id("start-6-0").fill("09:00")
    page.get_by_test_id("end-6-0").fill("00:00")
    page.get_by_test_id("automation-holidays").fill("25/12/2026")
    page.get_by_test_id("automation-save").click()
    expect(page.get_by_test_id("automation-saved")).to_be_visible()
    hours = api.get(f"/v1/channels/{chat_id}/automation").json()["data"]["working_hours"]
    assert hours == {
        "timezone": "America/Sao_Paulo",
        "week": [{"day": 1, "start": "08:00", "end": "12:00"},
                 {"day": 1, "start": "13:00", "end": "18:00"},
                 {"day": 6, "start": "09:00", "end": "24:00"}],
        "holidays": ["2026-12-25"],
    }  # fmt: skip
    expect(page.get_by_test_id("day-1").locator("[data-span]")).to_have_count(2)
    # An overlap is refused with a sentence, the form as typed.
    page.get_by_test_id("add-span-1").click()
    third = page.get_by_test_id("day-1").locator("[data-span]").nth(2)
    third.locator("input").nth(0).fill("11:00")
    third.locator("input").nth(1).fill("14:00")
    page.get_by_test_id("automation-save").click()
    expect(page.get_by_test_id("automation-error")).to_contain_text(
        "Segunda-feira: 08:00–12:00 e 11:00–14:00 se sobrepõem."
    )
    expect(page.get_by_test_id("day-1").locator("[data-span]")).to_have_count(3)
    # Removing the span in the page and saving again.
    page.get_by_test_id("day-1").locator("[data-span-remove]").nth(2).click()
    page.get_by_test_id("automation-save").click()
    expect(page.get_by_test_id("automation-saved")).to_be_visible()
    week = api.get(f"/v1/channels/{chat_id}/automation").json()["data"]["working_hours"]["week"]
    monday = [(s["start"], s["end"]) for s in week if s["day"] == 1]
    assert monday == [("08:00", "12:00"), ("13:00", "18:00")]

    # The menu: "Financeiro" moves up, "Suporte" is edited.
    menu = f"{server}/settings/channels/{chat_id}/menu"
    page.goto(menu)
    page.get_by_test_id(f"menu-up-{items['Financeiro']}").click()
    expect(page.get_by_test_id("menu-tree").locator("tbody tr").nth(2)).to_contain_text(
        "Financeiro"
    )
    page.get_by_test_id(f"menu-edit-{items['Suporte']}").click()
    expect(page.get_by_test_id("menu-name")).to_have_value("Suporte")
    page.get_by_test_id("menu-text").fill("Descreva o problema, por favor.")
    page.get_by_test_id("menu-close").check()
    page.get_by_test_id("menu-save").click()
    expect(page).to_have_url(re.compile(r"/menu(#.*)?$"))
    rows = api.get("/v1/scenarios/menu_items", params={"channel_id": chat_id, "level": 1})
    top = sorted(rows.json()["data"], key=lambda i: i["position"])
    assert [i["name"] for i in top] == ["Vendas", "Financeiro", "Suporte"]
    assert [(i["text"], i["close"]) for i in top if i["name"] == "Suporte"] == [
        ("Descreva o problema, por favor.", True)
    ]

    # The survey: a score added in the page.
    page.goto(f"{server}/settings/ratings/{rating['id']}")
    page.get_by_test_id("score-add").click()
    row = page.locator("[data-score]").nth(2)
    row.locator("input").nth(0).fill("3")
    row.locator("input").nth(1).fill("3, ok")
    row.locator("input").nth(2).fill("Anotado.")
    page.get_by_test_id("rating-save").click()
    expect(page).to_have_url(re.compile(r"/settings/ratings$"))
    saved = api.get("/v1/ratings").json()["data"][0]
    assert [(s["value"], s["answers"], s["thanks"]) for s in saved["scale"]] == [
        (5, ["5", "ótimo"], "Obrigado!"), (1, ["1", "ruim"], "Sentimos muito."),
        (3, ["3", "ok"], "Anotado."),
    ]  # fmt: skip

    pages = {
        "schedule": automation,
        "menu-editor": f"{menu}/{items['Suporte']}",
        "survey-editor": f"{server}/settings/ratings/{rating['id']}",
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    add_span = {"pt-BR": "+ Adicionar intervalo", "en": "+ Add a span", "es": "+ Añadir intervalo"}
    for language in ("pt-BR", "en", "es"):
        if language != "pt-BR":
            page.goto(server + "/me")
            page.get_by_test_id("preferences-language").select_option(language)
            page.get_by_test_id("preferences-save").click()
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            for name, url in pages.items():
                page.goto(url)
                expect(page.locator("h1")).to_be_visible()
                page.screenshot(path=str(SHOTS / f"automation-{name}-{language}-{size}.png"),
                                full_page=True)  # fmt: skip
        page.goto(automation)
        expect(page.get_by_test_id("add-span-1")).to_have_text(add_span[language])
    assert csp == []
    context.close()
