"""The team in headless Chromium, two operators in separate browser contexts against a real
``atendo serve`` (workers in-process: the router hands out new chats):

routing to the group's online member and the notification it brings (toast, tab title);
presence ("está vendo" / "está digitando"); per-operator unread; the reading position kept
while messages of other clients arrive (nothing re-rendered) and the "new messages" pill for
this chat's own; an @mention notification; a transfer with a comment that becomes a timeline
line for one and a friendly notice (draft kept) for the other; a forbidden direct link as a
page in the operator's language; the status chooser. Screens under ``test-output/screenshots``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.panel.test_browser import browser, server, shot  # noqa: F401 (fixtures)
from tests.panel.test_browser_external import _company

pytestmark = pytest.mark.browser
PASSWORD = "uma senha longa"


def _sign_in(
    chromium: Any, base: str, email: str, locale: str = "pt-BR", size: tuple[int, int] = (1280, 800)
) -> Any:
    context = chromium.new_context(viewport={"width": size[0], "height": size[1]}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/chats"))
    return page


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _inbox(api: httpx.Client, channel: int, phone: str, text: str, name: str = "") -> Any:
    body = {"channel_id": channel, "body": text, "from_client": {"phone": phone, "nickname": name}}
    return _ok(api.post("/v1/messages/inbox", json=body), 201)


def test_two_operators_work_a_day_together(server: str, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    company = _company(tmp_path)  # admin ana@loja.example (a supervisor sees every chat)
    api = httpx.Client(base_url=server, headers={"Authorization": company["api_token"]})
    bruno = _ok(
        api.post(
            "/v1/operators",
            json={"email": "bruno@loja.example", "first_name": "Bruno", "password": PASSWORD},
        ),
        201,
    )
    _ok(api.put(f"/v1/operators/{company['operator_id']}", json={"first_name": "Ana"}))
    group = _ok(
        api.post(
            "/v1/operators_groups",
            json={"name": "Suporte", "members": [{"operator_id": bruno["id"], "skill": 80}]},
        ),
        201,
    )
    channel = _ok(
        api.post("/v1/channels", json={"transport": "external", "name": "WhatsApp"}), 201
    )["id"]
    _ok(api.put(f"/v1/channels/{channel}", json={"group_id": group["id"]}))
    # A long earlier conversation with Bia, so that there is something to scroll.
    first = _inbox(api, channel, "+5511900000001", "Olá", "Bia")
    dialog_id = first["dialog_id"]
    for i in range(25):
        _inbox(api, channel, "+5511900000001", f"Linha {i} " + "de um texto longo " * 12, "Bia")

    ana = _sign_in(browser, server, "ana@loja.example")
    b = _sign_in(browser, server, "bruno@loja.example")
    expect(b.get_by_test_id("operator-status")).to_have_value("working")

    # 1. Routing: Bruno (the group's only online member) gets Bia's chat, with a notification.
    def owner() -> Any:
        return _ok(api.get(f"/v1/dialogs/{dialog_id}"))["operator_id"]

    for _ in range(100):
        if owner() == bruno["id"]:
            break
        b.wait_for_timeout(100)
    assert owner() == bruno["id"]
    new_chat = _inbox(api, channel, "+5511900000002", "Preciso de ajuda", "Caio")
    expect(
        b.get_by_test_id("notification").filter(has_text="Novo chat atribuído a você")
    ).to_be_visible(timeout=10_000)
    expect(b).to_have_title(re.compile(r"^\(2\) "))
    shot(b, "team-notification-pt-1280x800")

    # 2. Presence, pushed over the live stream (the server fixture's panels say "still here"
    #    only once an hour, ATENDO_PANEL_PRESENCE_KEEPALIVE, so no beat can explain what
    #    arrives): both open Bia's chat; each sees the other within 2 seconds; Ana's typing
    #    shows and clears; her leaving for another chat, and coming back, too.
    b.goto(f"{server}/chats/{dialog_id}")
    ana.goto(f"{server}/chats/{dialog_id}")
    presence = b.get_by_test_id("presence")
    expect(b.get_by_test_id("presence-viewing")).to_have_text("Ana está vendo", timeout=2_500)
    expect(ana.get_by_test_id("presence-viewing")).to_have_text("Bruno está vendo", timeout=2_500)
    ana.get_by_test_id("composer-text").press_sequentially("Oi Bia", delay=40)
    expect(presence).to_have_text("Ana está digitando…", timeout=2_500)
    # She stops: three seconds after her last key she is only viewing again.
    expect(presence).to_have_text("Ana está vendo", timeout=3_000 + 2_500)
    ana.get_by_test_id("composer-text").fill("")
    expect(presence).to_have_text("Ana está digitando…", timeout=2_500)  # clearing is typing too
    ana.get_by_test_id("composer-send").focus()
    expect(presence).to_have_text("Ana está vendo", timeout=3_000 + 2_500)
    # Ana opens another chat in the list (no page load), then comes back with a page load.
    ana.locator(f"[data-testid=dialog-item][data-dialog-id='{new_chat['dialog_id']}']").click()
    expect(ana.locator(f"[data-dialog-pane='{new_chat['dialog_id']}']")).to_be_visible()
    expect(presence).to_have_text("", timeout=2_500)
    ana.goto(f"{server}/chats/{dialog_id}")
    expect(presence).to_have_text("Ana está vendo", timeout=2_500)
    # A second tab of Ana's on the chat is closed (it says she left): her first tab, still on
    # the chat, hears that she is no longer there and says she is, so Bruno still sees her.
    second = ana.context.new_page()
    second.goto(f"{server}/chats/{dialog_id}")
    expect(second.get_by_test_id("presence-viewing")).to_have_text("Bruno está vendo")
    again = f"{server}/chats/{dialog_id}/presence"
    with ana.expect_response(lambda r: r.url == again and r.request.method == "POST"):
        second.close(run_before_unload=True)
    b.reload()  # what the server knows now
    expect(presence).to_have_text("Ana está vendo")

    # 3. Per-operator unread: a new message while Bruno is elsewhere; Ana (supervisor) reads it.
    b.goto(f"{server}/chats/{new_chat['dialog_id']}")
    _inbox(api, channel, "+5511900000001", "Alguém aí?", "Bia")
    ana.wait_for_timeout(1_500)  # Ana's open pane marks it read for her
    ana.goto(f"{server}/chats/{dialog_id}")
    assert _ok(api.get(f"/v1/dialogs/{dialog_id}"))["unread"] == 1  # still Bruno's badge
    item = b.locator(f"[data-testid=dialog-item][data-dialog-id='{dialog_id}']")
    expect(item.get_by_test_id("unread-count")).to_have_text("1")
    expect(item.get_by_test_id("awaiting-reply")).to_contain_text("aguardando resposta")

    # 4. The reading position: Bruno reads the top of Bia's chat while others write.
    b.goto(f"{server}/chats/{dialog_id}")
    assert _ok(api.get(f"/v1/dialogs/{dialog_id}"))["unread"] == 0
    b.evaluate("document.getElementById('scroll').scrollTop = 0")
    b.evaluate("window.__first = document.querySelector('#messages article')")
    for i in range(3):
        _inbox(api, channel, f"+55119000001{i}", f"Outro cliente {i}")
    b.wait_for_timeout(2_000)
    assert b.evaluate("document.getElementById('scroll').scrollTop") == 0
    assert b.evaluate("window.__first.isConnected") is True  # not re-rendered
    expect(b.get_by_test_id("new-messages-pill")).to_be_hidden()
    _inbox(api, channel, "+5511900000001", "Mais uma coisa", "Bia")
    expect(b.get_by_test_id("new-messages-pill")).to_be_visible(timeout=5_000)
    assert b.evaluate("document.getElementById('scroll').scrollTop") == 0
    assert b.evaluate("window.__first.isConnected") is True
    expect(b.locator("#messages")).to_contain_text("Mais uma coisa")
    shot(b, "team-new-messages-pill-pt-1280x800")
    b.get_by_test_id("new-messages-pill").click()
    expect(b.get_by_test_id("new-messages-pill")).to_be_hidden()

    # 5. An @mention in Ana's internal note reaches Bruno.
    ana.get_by_test_id("composer-comment").check()
    ana.get_by_test_id("composer-text").press_sequentially("@bru", delay=30)
    ana.get_by_test_id("mention-option").first.click()
    ana.get_by_test_id("composer-text").press_sequentially("pode ver o pedido?")
    ana.get_by_test_id("composer-send").click()
    expect(ana.locator("#messages")).to_contain_text("@bruno pode ver o pedido?")
    expect(b.get_by_test_id("notification").filter(has_text="Ana mencionou você")).to_be_visible(
        timeout=10_000
    )

    # 6. Ana transfers the chat to herself with a comment: a timeline line for her, a notice
    #    for Bruno (his draft stays), and a friendly page for his direct link.
    b.get_by_test_id("composer-text").fill("Rascunho do Bruno")
    ana.get_by_test_id("assign").select_option(f"op:{company['operator_id']}")
    ana.get_by_test_id("transfer-comment").fill("Cliente VIP, eu cuido")
    ana.get_by_test_id("transfer-submit").click()
    expect(ana.get_by_test_id("dialog-assignee")).to_have_text("Responsável: Ana")
    line = ana.get_by_test_id("timeline-entry").filter(has_text="transferiu o chat para Ana")
    expect(line).to_contain_text("Cliente VIP, eu cuido")
    shot(ana, "team-timeline-pt-1280x800")
    expect(b.get_by_test_id("pane-notice")).to_contain_text(
        "Esta conversa não está mais disponível para você", timeout=10_000
    )
    expect(b.get_by_test_id("composer-text")).to_have_value("Rascunho do Bruno")
    assert "{" not in b.locator("#pane").inner_text()
    shot(b, "team-reassigned-notice-pt-1280x800")
    b.goto(f"{server}/chats/{dialog_id}")
    expect(b.get_by_test_id("error-page")).to_contain_text("não está disponível para você")
    assert '{"status":"error"' not in b.content()
    events = _ok(api.get(f"/v1/dialogs/{dialog_id}"))["events"]
    assert [(e["kind"], e["operator_id"], e["details"]["comment"]) for e in events][-1] == (
        "transferred",
        company["operator_id"],
        "Cliente VIP, eu cuido",
    )

    # 7. Bruno takes a break from the header: the API sees it at once.
    b.goto(f"{server}/chats")
    b.get_by_test_id("operator-status").select_option("break")
    for _ in range(50):
        if _ok(api.get(f"/v1/operators/{bruno['id']}"))["status"] == "break":
            break
        b.wait_for_timeout(100)
    assert (
        _ok(api.get(f"/v1/operators/{bruno['id']}"))["status"],
        _ok(api.get(f"/v1/operators/{bruno['id']}"))["online"],
    ) == ("break", 0)
    api.close()


@pytest.mark.parametrize(
    ("locale", "width", "height"),
    [("pt-BR", 1280, 800), ("en", 1280, 800), ("pt-BR", 390, 844), ("en", 390, 844)],
)
def test_team_screens_in_both_languages_and_sizes(
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
    locale: str,
    width: int,
    height: int,
) -> None:
    """The team's screens as an admin sees them: the chat with its timeline and presence, the
    views with counts, Settings › Routing and team, the audit log, a 404 page."""
    from playwright.sync_api import expect

    company = _company(tmp_path)
    api = httpx.Client(base_url=server, headers={"Authorization": company["api_token"]})
    lang = "en" if locale == "en" else "pt_BR"
    _ok(api.put(f"/v1/operators/{company['operator_id']}", json={"first_name": "Ana"}))
    bruno = _ok(
        api.post(
            "/v1/operators",
            json={"email": "bruno@loja.example", "first_name": "Bruno", "password": PASSWORD},
        ),
        201,
    )
    channel = _ok(
        api.post("/v1/channels", json={"transport": "external", "name": "WhatsApp"}), 201
    )["id"]
    _ok(
        api.post(
            "/v1/operators_groups",
            json={
                "name": "Suporte",
                "rule": "most_skilled",
                "members": [{"operator_id": bruno["id"], "skill": 80}],
            },
        ),
        201,
    )
    chat = _inbox(api, channel, "+5511900000001", "Meu pedido não chegou", "Bia")
    _inbox(api, channel, "+5511900000002", "Oi", "Caio")
    _ok(
        api.get(
            f"/v1/messages/{chat['message_id']}/transfer",
            params={"operator_id": bruno["id"], "force_assign": 1, "comment": "VIP"},
        )
    )

    ana = _sign_in(browser, server, "ana@loja.example", locale, (width, height))
    # The panel's language is the operator's: set it as the screen's.
    ana.goto(server + "/me")
    ana.get_by_test_id("preferences-language").select_option(lang)
    ana.get_by_test_id("preferences-save").click()
    b = _sign_in(browser, server, "bruno@loja.example", locale, (width, height))
    b.goto(f"{server}/chats/{chat['dialog_id']}")
    ana.goto(f"{server}/chats/{chat['dialog_id']}")
    expect(ana.get_by_test_id("presence-viewing")).to_be_visible(timeout=2_500)
    expect(ana.get_by_test_id("timeline-entry").first).to_be_visible()
    tag = f"{'pt' if lang == 'pt_BR' else 'en'}-{width}x{height}"
    shot(ana, f"team-chat-{tag}")
    b.get_by_test_id("composer-text").press_sequentially("Vou ver", delay=40)
    typing = "Bruno is typing…" if lang == "en" else "Bruno está digitando…"
    expect(ana.get_by_test_id("presence-typing")).to_have_text(typing, timeout=2_500)
    shot(ana, f"presence-typing-{tag}")
    ana.goto(f"{server}/chats?who=queue")
    expect(ana.get_by_test_id("count-all")).to_have_text("2")
    shot(ana, f"team-views-{tag}")
    ana.goto(f"{server}/settings/team")
    expect(ana.get_by_test_id("group-rule")).to_have_value("most_skilled")
    shot(ana, f"team-settings-{tag}")
    ana.get_by_test_id("inactivity-minutes").fill("15")
    ana.get_by_test_id("inactivity-minutes").press("Enter")
    expect(ana.get_by_test_id("team-notice")).to_be_visible()
    ana.goto(f"{server}/settings/audit")
    expect(ana.get_by_test_id("audit-row").first).to_be_visible()
    shot(ana, f"team-audit-{tag}")
    ana.goto(f"{server}/chats/999999")
    expect(ana.get_by_test_id("error-page")).to_be_visible()
    shot(ana, f"team-404-{tag}")
    api.close()
