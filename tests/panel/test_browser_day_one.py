"""Day one in headless Chromium, against a real ``atendo serve`` filled by ``atendo demo``: the
panel in pt-BR, English and Spanish, at desktop (1280x800) and phone (390x844) sizes.

Each screen is photographed under ``test-output/screenshots/day-one/`` and checked not to
scroll sideways. On the phone the list and the conversation are two screens with a back
control. Search finds "João" by typing "joao"; keyboard shortcuts move through the list and
open the help; two chats selected with a shift-click are closed in one bulk action.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.panel.test_browser import SHOTS, browser, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

OUT = SHOTS / "day-one"
SIZES = {"desktop": (1280, 800), "tablet": (768, 1024), "phone": (390, 844)}
WORDS = {
    "pt_BR": {"chats": "Conversas", "back": "Voltar à lista", "search": "Buscar"},
    "en": {"chats": "Chats", "back": "Back to the list", "search": "Search"},
    "es": {"chats": "Conversaciones", "back": "Volver a la lista", "search": "Buscar"},
}


def _demo(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(tmp_path / "data"),
        "ATENDO_DATABASE_URL": f"sqlite:///{tmp_path / 'atendo.db'}",
        "ATENDO_SECRET_KEY": "browser-test-secret",
    }
    out = subprocess.run(
        [sys.executable, "-m", "atendo", "demo", "--admin-password", "demo senha longa"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["admin_password"] == "demo senha longa"
    return summary


def _no_sideways_scroll(page: object, name: str) -> None:
    wide = page.evaluate(  # type: ignore[attr-defined]
        "document.documentElement.scrollWidth - window.innerWidth"
    )
    assert wide <= 0, f"{name} scrolls sideways by {wide}px"


def _shot(page: object, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    _no_sideways_scroll(page, name)
    page.screenshot(path=str(OUT / f"{name}.png"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("language", ["pt_BR", "en", "es"])
def test_day_one_screens_in_every_language_and_size(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
    language: str,
) -> None:
    from playwright.sync_api import expect

    demo = _demo(tmp_path)
    words = WORDS[language]
    for size, (width, height) in SIZES.items():
        context = browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": width, "height": height}, locale="pt-BR"
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        tag = f"{language}-{size}"
        page.goto(server + "/login")
        _shot(page, f"login-{tag}")
        page.get_by_test_id("login-email").fill(demo["admin_email"])
        page.get_by_test_id("login-password").fill(demo["admin_password"])
        page.get_by_test_id("login-submit").click()
        page.wait_for_url("**/chats")
        if language != "pt_BR" and size == "desktop":
            page.select_option("select[name=language]", language)
            page.wait_for_load_state()
        expect(page.locator(".mainnav a").first).to_have_text(words["chats"])
        expect(page.locator("html")).to_have_attribute("lang", language.replace("_", "-"))
        _shot(page, f"chats-{tag}")

        # the conversation: on the phone a second screen with a back control
        page.get_by_test_id("dialog-item").filter(has_text="Mariana").click()
        page.wait_for_selector("[data-testid=message]")
        back = page.get_by_test_id("back-to-list")
        if size == "phone":
            expect(page.get_by_test_id("dialog-list")).to_be_hidden()
            expect(back).to_be_visible()
            expect(back).to_have_attribute("aria-label", words["back"])
            expect(page.get_by_test_id("composer-send")).to_be_in_viewport()
        else:
            expect(page.get_by_test_id("dialog-list")).to_be_visible()
            expect(back).to_be_hidden()
        _shot(page, f"conversation-{tag}")
        page.get_by_test_id("client-card-link").click()
        expect(page.get_by_test_id("client-card")).to_be_visible()
        _shot(page, f"client-card-{tag}")
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("client-card")).to_have_count(0)
        if size == "phone":
            back.click()
            expect(page.get_by_test_id("dialog-list")).to_be_visible()
            expect(page).to_have_url(re.compile(r"/chats$"))

        # search: accents and case do not matter; closed chats are found too
        page.get_by_test_id("chat-search").fill("JOAO")
        expect(page.get_by_test_id("dialog-item")).to_have_count(1)
        expect(page.get_by_test_id("dialog-item")).to_contain_text("João Pereira")
        page.get_by_test_id("chat-search").fill("")
        expect(page.get_by_test_id("dialog-item")).to_have_count(4)
        page.get_by_test_id("more-filters").click()
        _shot(page, f"filters-{tag}")

        # keyboard: "?" shows the shortcuts, Esc hides them, j opens the first chat
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("?")
        expect(page.get_by_test_id("shortcuts")).to_be_visible()
        _shot(page, f"shortcuts-{tag}")
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("shortcuts")).to_be_hidden()

        for path, name in [
            ("/chats/new", "new-chat"),
            ("/settings/channels", "settings-channels"),
            ("/settings/operators", "settings-operators"),
            ("/settings/tags", "settings-tags"),
            ("/settings/templates", "settings-templates"),
            ("/settings/blocks", "settings-blocks"),
            ("/settings/api", "settings-api"),
            ("/me", "preferences"),
        ]:
            page.goto(server + path)
            _shot(page, f"{name}-{tag}")
        context.close()


def test_keyboard_and_bulk_close_with_a_shift_click(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    demo = _demo(tmp_path)
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 800}, locale="pt-BR"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(server + "/login")
    page.get_by_test_id("login-email").fill(demo["admin_email"])
    page.get_by_test_id("login-password").fill(demo["admin_password"])
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/chats")
    expect(page.get_by_test_id("dialog-item")).to_have_count(4)

    # keyboard: j opens the first chat, k stays on it, j again the second
    page.locator("body").click(position={"x": 700, "y": 400})
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(r"/chats/\d+$"))
    first = page.url
    page.keyboard.press("j")
    expect(page).not_to_have_url(first)
    page.keyboard.press("k")
    expect(page).to_have_url(first)
    # the template picker: "/" lists them, arrows move, Enter inserts the highlighted one
    text = page.get_by_test_id("composer-text")
    text.click()
    text.press("/")
    expect(page.get_by_test_id("template-option")).to_have_count(2)
    text.press("ArrowDown")
    text.press("Enter")
    expect(text).to_have_value(re.compile(r"^O prazo de entrega é de 3 a 5 dias"))
    # Ctrl+Enter sends (an internal note here: nothing leaves)
    page.get_by_test_id("composer-comment").check()
    text.fill("Nota pelo teclado")
    text.press("Control+Enter")
    expect(page.locator(".msg.comment").filter(has_text="Nota pelo teclado")).to_have_count(1)
    expect(text).to_have_value("")
    # Esc leaves the composer, "/" focuses the search
    text.press("Escape")
    page.keyboard.press("/")
    expect(page.get_by_test_id("chat-search")).to_be_focused()
    page.keyboard.press("Escape")

    picks = page.get_by_test_id("dialog-pick")
    picks.nth(0).check()
    picks.nth(2).click(modifiers=["Shift"])
    expect(page.get_by_test_id("bulk-count")).to_have_text("3 selecionadas")
    expect(picks.nth(1)).to_be_checked()
    page.get_by_test_id("bulk-action").select_option("close")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "bulk-pt_BR-desktop.png"))
    page.get_by_test_id("bulk-apply").click()
    expect(page.get_by_test_id("bulk-bar")).to_be_hidden()
    expect(page.get_by_test_id("dialog-item")).to_have_count(1)
    expect(page.get_by_test_id("count-closed")).to_have_text("4")
    context.close()
