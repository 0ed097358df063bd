"""Presence on a chat across two ``atendo serve`` processes on one PostgreSQL database, in
Chromium: Ana's panel is served by one process, Bruno's by the other. What Bruno's panel tells
its process (he opens the chat, types, stops, leaves) reaches Ana's live stream on the other
through LISTEN/NOTIFY (``atendo.kit.wake``, ``atendo.panel.presence``), and the other way
round.

Both processes run with the panel's "still here" an hour apart
(``ATENDO_PANEL_PRESENCE_KEEPALIVE``): no browser asks again who is on the chat, so what shows
was pushed. On SQLite (one process) the same wake-ups are in-process: see
``test_browser_team.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atendo.runtime import Runtime
from tests.conftest import make_company
from tests.panel.test_browser import browser  # noqa: F401 (fixture)
from tests.transports.widget.processes import serving_on_postgres

pytestmark = pytest.mark.browser
PASSWORD = "uma senha longa"
PUSHED = 2_500  # ms: "within 2 seconds", and a little for the browser to paint
STOPS = 3_000  # ms: the panel says "stopped typing" three seconds after the last key


@pytest.fixture(scope="module")
def servers(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with serving_on_postgres(
        runtime,
        tmp_path_factory,
        {"one": ("--no-workers",), "two": ("--no-workers",)},
        ATENDO_PANEL_PRESENCE_KEEPALIVE="3600",
    ) as bases:
        yield bases


def _sign_in(chromium: Any, base: str, email: str, password: str) -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/chats"))
    return page


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


def test_typing_in_one_process_shows_in_the_other(
    runtime: Runtime,
    servers: dict[str, str],
    browser: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    one, two = servers["one"], servers["two"]
    company = make_company(runtime, "Presenca")
    api = httpx.Client(base_url=one, headers={"Authorization": company.token})
    _ok(api.put(f"/v1/operators/{company.admin_id}", json={"first_name": "Ana"}))
    body = {"email": "bruno@presenca.example", "first_name": "Bruno", "password": PASSWORD}
    _ok(api.post("/v1/operators", json=body), 201)
    channel = _ok(api.post("/v1/channels", json={"transport": "external", "name": "Zap"}), 201)
    inbox = {"channel_id": channel["id"], "body": "Olá", "from_client": {"phone": "+5511987650001"}}
    dialog_id = _ok(api.post("/v1/messages/inbox", json=inbox), 201)["dialog_id"]

    ana = _sign_in(browser, one, company.admin_email, company.admin_password)
    bruno = _sign_in(browser, two, "bruno@presenca.example", PASSWORD)
    seen_by_ana = ana.get_by_test_id("presence")
    seen_by_bruno = bruno.get_by_test_id("presence")

    # Ana is on the chat first; Bruno comes: she learns it from his process.
    ana.goto(f"{one}/chats/{dialog_id}")
    expect(ana.locator(f"[data-dialog-pane='{dialog_id}']")).to_be_visible()
    expect(seen_by_ana).to_have_text("")
    bruno.goto(f"{two}/chats/{dialog_id}")
    expect(seen_by_ana).to_have_text("Bruno está vendo", timeout=PUSHED)
    expect(seen_by_bruno).to_have_text("Ana está vendo", timeout=PUSHED)

    # Bruno types (process two); Ana (process one) sees it, then its clearing.
    bruno.get_by_test_id("composer-text").press_sequentially("Já vejo", delay=40)
    expect(seen_by_ana).to_have_text("Bruno está digitando…", timeout=PUSHED)
    expect(seen_by_ana).to_have_text("Bruno está vendo", timeout=STOPS + PUSHED)

    # And the other way round: Ana types, Bruno sees it.
    ana.get_by_test_id("composer-text").press_sequentially("Eu respondo", delay=40)
    expect(seen_by_bruno).to_have_text("Ana está digitando…", timeout=PUSHED)

    # Her reply makes the chat hers: Bruno, an operator, may no longer see it, and the line
    # he was shown empties (nothing more of it reaches him).
    ana.get_by_test_id("composer-send").click()
    expect(ana.locator("#messages")).to_contain_text("Eu respondo")
    assert _ok(api.get(f"/v1/dialogs/{dialog_id}"))["operator_id"] == company.admin_id
    expect(seen_by_bruno).to_have_text("", timeout=PUSHED)

    # Bruno leaves the chats screen: Ana's line empties.
    expect(seen_by_ana).to_have_text("Bruno está vendo")
    bruno.goto(f"{two}/me")
    expect(seen_by_ana).to_have_text("", timeout=PUSHED)
    api.close()
