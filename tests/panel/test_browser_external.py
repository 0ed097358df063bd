"""An operator answers an external-channel dialog from the panel composer, in headless
Chromium against a real ``atendo serve`` (the composer offers what the transport takes: no
subject, no signature). Screens saved under ``test-output/screenshots/``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.panel.test_browser import browser, server, shot  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def _company(tmp_path: Path) -> dict[str, str]:
    """``atendo company create`` on the served database (the same env as the server)."""
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(tmp_path / "data"),
        "ATENDO_DATABASE_URL": f"sqlite:///{tmp_path / 'atendo.db'}",
        "ATENDO_SECRET_KEY": "browser-test-secret",
    }
    out = subprocess.run(
        [sys.executable, "-m", "atendo", "company", "create", "--name", "Loja",
         "--admin-email", "ana@loja.example", "--admin-password", "uma senha longa"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    data: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_operator_answers_an_external_dialog(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
    width: int,
    height: int,
) -> None:
    from playwright.sync_api import expect

    company = _company(tmp_path)
    api = httpx.Client(base_url=server, headers={"Authorization": company["api_token"]})
    ch = api.post("/v1/channels", json={"transport": "external", "name": "WhatsApp (CRM)"})
    assert ch.status_code == 201, ch.text
    msg = api.post(
        "/v1/messages/inbox",
        json={
            "channel_id": ch.json()["data"]["id"],
            "body": "Meu pedido não chegou",
            "from_client": {"phone": "+5511988887777", "nickname": "Bia"},
        },
    ).json()["data"]
    dialog_id = msg["dialog_id"]

    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": height}, locale="pt-BR"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(server + "/login")
    page.get_by_test_id("login-email").fill("ana@loja.example")
    page.get_by_test_id("login-password").fill("uma senha longa")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))
    page.goto(f"{server}/chats/{dialog_id}")
    expect(page.get_by_test_id("composer-text")).to_be_visible()
    expect(page.get_by_test_id("composer-subject")).to_have_count(0)
    expect(page.get_by_test_id("composer-signature")).to_have_count(0)
    page.get_by_test_id("composer-text").fill("Olá, Bia! Vou verificar agora.")
    expect(page.get_by_test_id("composer-send")).to_have_text("Enviar")
    page.get_by_test_id("composer-send").click()
    expect(page.locator("#messages")).to_contain_text("Olá, Bia! Vou verificar agora.")
    expect(page.locator("#composer-note")).to_have_text("")
    shot(page, f"external-reply-{width}x{height}")
    rows = api.get("/v1/messages", params={"dialog_id": dialog_id, "type": "to_client"}).json()[
        "data"
    ]
    assert [(m["text"], m["transport"]) for m in rows] == [
        ("Olá, Bia! Vou verificar agora.", "external")
    ]
    context.close()
    api.close()
