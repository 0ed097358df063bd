"""The new-mailbox form fills the servers from the address (autodiscovery), in headless
Chromium against a real ``atendo serve``: a Gmail address fills Google's servers and says that
an app password is needed; a server the admin already typed is kept. Screens saved under
``test-output/screenshots/``. (Presets only: no test asks the outside DNS.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.panel.test_browser import browser, server, shot  # noqa: F401 (fixtures)
from tests.panel.test_browser_external import _company

pytestmark = pytest.mark.browser

SAID = {
    "pt-BR": ("Servidores preenchidos a partir do endereço", "senha de app"),
    "en-US": ("Servers filled in from the address", "app password"),
}


@pytest.mark.parametrize("locale", ["pt-BR", "en-US"])
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_address_fills_the_servers(
    server: str,  # noqa: F811
    browser: object,  # noqa: F811
    tmp_path: Path,
    locale: str,
    width: int,
    height: int,
) -> None:
    from playwright.sync_api import expect

    _company(tmp_path)
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": height}, locale=locale
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(server + "/login")
    page.get_by_test_id("login-email").fill("ana@loja.example")
    page.get_by_test_id("login-password").fill("uma senha longa")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))
    if locale == "en-US":  # the operator's own language, chosen on their page
        page.goto(server + "/me")
        page.get_by_test_id("preferences-language").select_option("en")
        page.get_by_test_id("preferences-save").click()
        expect(page.get_by_test_id("preferences-save")).to_have_text("Save")
    page.goto(server + "/settings/channels/new?transport=email")
    # The admin typed the SMTP server first: it stays as typed.
    page.get_by_test_id("channel-smtp-host").fill("relay.loja.example")
    page.get_by_test_id("channel-email").fill("suporte@gmail.com")
    page.get_by_test_id("channel-email").press("Tab")
    expect(page.get_by_test_id("channel-imap-host")).to_have_value("imap.gmail.com")
    expect(page.get_by_test_id("channel-imap-port")).to_have_value("993")
    expect(page.get_by_test_id("channel-imap-security")).to_have_value("ssl")
    expect(page.get_by_test_id("channel-smtp-host")).to_have_value("relay.loja.example")
    expect(page.get_by_test_id("channel-smtp-port")).to_have_value("465")
    found, app_password = SAID[locale]
    status = page.get_by_test_id("channel-discovered")
    expect(status).to_contain_text(found)
    expect(status).to_contain_text(app_password)
    status.scroll_into_view_if_needed()
    shot(page, f"discovery-{locale}-{width}")
    context.close()
