"""The self-service menu and the survey on the site widget, in headless Chromium against two
``atendo serve`` processes on the test database (each runs the workers: two automation
workers at once): the greeting and the menu arrive with buttons, a click walks the menu, an
operator answers and closes, the survey's scale is buttons, the score is stored once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from atendo.core.automation.models import RequestRating
from atendo.runtime import Runtime
from tests.conftest import make_company
from tests.panel.test_browser import browser, shot  # noqa: F401 (fixtures)
from tests.transports.widget.test_widget_browser import (  # noqa: F401 (fixtures)
    _login,
    _page,
    site,
    site_dir,
    two_servers,
)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("lang", "width", "height"), [("pt-BR", 1280, 800), ("en", 390, 844)])
def test_menu_and_survey_buttons_on_the_widget(
    runtime: Runtime,
    two_servers: tuple[str, str],  # noqa: F811
    browser: Any,  # noqa: F811
    site: str,  # noqa: F811
    site_dir: Path,  # noqa: F811
    lang: str,
    width: int,
    height: int,
) -> None:
    from playwright.sync_api import expect

    visitors, operators = two_servers
    company = make_company(runtime, "Loja")
    api = httpx.Client(base_url=operators, headers={"Authorization": company.token})
    r = api.post(
        "/v1/channels",
        json={
            "transport": "widget",
            "name": "Site",
            "allowed_origins": [site],
            "prechat": {"name": "off", "email": "off", "phone": "off"},
        },
    )
    assert r.status_code == 201, r.text
    channel_id, pid = r.json()["data"]["id"], r.json()["data"]["public_id"]
    _page(
        site_dir, f"menu-{pid}.html", lang, r.json()["data"]["snippet"].replace(operators, visitors)
    )
    r = api.put(
        f"/v1/channels/{channel_id}/automation",
        json={
            "greetings": {"new_in_hours": "Olá! Bem-vindo.", "new_out_of_hours": "Olá! Bem-vindo."},
            "menu": {"enabled": True, "invitation": "Como podemos ajudar?"},
        },
    )
    assert r.status_code == 200, r.text
    sales = api.post(
        "/v1/scenarios/menu_items",
        json={
            "channel_id": channel_id,
            "command": "1",
            "name": "Vendas",
            "text": "Novos ou usados?",
        },
    )
    api.post(
        "/v1/scenarios/menu_items",
        json={
            "channel_id": channel_id,
            "command": "2",
            "name": "Suporte",
            "text": "Conte o problema.",
        },
    )
    api.post(
        "/v1/scenarios/menu_items",
        json={
            "channel_id": channel_id,
            "parent_id": sales.json()["data"]["id"],
            "command": "1",
            "name": "Usados",
            "text": "Um vendedor já vem.",
        },
    )
    rating = api.post(
        "/v1/ratings",
        json={
            "name": "CSAT",
            "question": "Como foi o atendimento?",
            "channel_ids": [channel_id],
            "scale": [
                {"value": 1, "answers": ["Ruim"], "thanks": "Sentimos muito."},
                {"value": 5, "answers": ["Ótimo", "5"], "thanks": "Obrigado!"},
            ],
        },
    )
    assert rating.status_code == 201, rating.text  # fmt: skip

    # An operator is signed in (someone is online: the widget offers the chat, not the form).
    op_context = browser.new_context(viewport={"width": 1280, "height": 800})
    _login(op_context, operators, company.admin_email)
    context = browser.new_context(viewport={"width": width, "height": height}, locale=lang,
                                  has_touch=width < 500)  # fmt: skip
    visitor = context.new_page()
    visitor.set_default_timeout(20_000)
    visitor.goto(f"{site}/menu-{pid}.html")
    visitor.get_by_test_id("widget-launcher").click()
    chat = visitor.frame_locator('[data-testid="widget-frame"]')
    chat.get_by_test_id("widget-input").fill("oi")
    chat.get_by_test_id("widget-send").click()
    theirs = chat.locator('[data-testid="widget-message"][data-author="operator"]')
    expect(theirs).to_have_count(2)
    expect(theirs.nth(0)).to_contain_text("Olá! Bem-vindo.")
    expect(theirs.nth(1).get_by_test_id("widget-choice")).to_have_text(["Vendas", "Suporte"])
    shot(visitor, f"automation-widget-menu-{lang}")
    theirs.nth(1).get_by_role("button", name="Vendas").click()
    expect(theirs).to_have_count(3)
    expect(theirs.nth(2)).to_contain_text("Novos ou usados?")
    theirs.nth(2).get_by_role("button", name="Usados").click()
    expect(theirs).to_have_count(4)
    expect(theirs.nth(3)).to_contain_text("Um vendedor já vem.")

    # An operator answers and closes: the survey's scale comes as buttons.
    client_id = api.get("/v1/dialogs", params={"limit": 200}).json()["data"]
    dialog = next(d for d in client_id if d.get("channel_id") == channel_id)
    r = api.post("/v1/messages", json={"dialog_id": dialog["id"], "text": "Separei o seu!",
                                       "operator_id": company.admin_id})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    api.put(f"/v1/dialogs/{dialog['id']}", json={"operator_id": company.admin_id})
    api.put(f"/v1/dialogs/{dialog['id']}", json={"state": "closed"})
    expect(theirs).to_have_count(6)
    expect(theirs.nth(5)).to_contain_text("Como foi o atendimento?")
    expect(theirs.nth(5).get_by_test_id("widget-choice")).to_have_text(["Ruim", "Ótimo"])
    shot(visitor, f"automation-widget-survey-{lang}")
    theirs.nth(5).get_by_role("button", name="Ótimo").click()
    expect(theirs).to_have_count(7)
    expect(theirs.nth(6)).to_contain_text("Obrigado!")
    with runtime.db.reading() as session:
        scores = session.scalars(
            select(RequestRating.score).where(RequestRating.company_id == company.id)
        )
        assert list(scores) == [5]
    context.close()
    op_context.close()
