"""The widget in headless Chromium, as a visitor and an operator live it.

A test site (a static server on another loopback port) embeds the snippet; the visitor's
browser talks to one ``atendo serve`` process and the operator's panel to another, both on
the test database (SQLite, or PostgreSQL in the PostgreSQL pass): pre-chat form, a message
each way seen live, the operator's name, a file, a reload that keeps the history, a site that
is not allowed, and the phone size. Screens in pt-BR and en are saved under
``test-output/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atendo.runtime import Runtime
from tests.conftest import make_company
from tests.panel.test_browser import browser, shot  # noqa: F401 (fixtures)
from tests.transports.widget.processes import serving

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def two_servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Two ``atendo serve`` processes on the same database: (visitors' one, operators' one)."""
    tmp = tmp_path_factory.mktemp("widget-serve")
    with serving(tmp, database_url, {"a": (), "b": ()}) as bases:
        yield bases["a"], bases["b"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _site(folder: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("site")


@pytest.fixture(scope="module")
def site(site_dir: Path) -> Iterator[str]:
    yield from _site(site_dir)


@pytest.fixture(scope="module")
def other_site(site_dir: Path) -> Iterator[str]:
    yield from _site(site_dir)


def _page(folder: Path, name: str, lang: str, snippet: str) -> None:
    (folder / name).write_text(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Loja Exemplo</title></head><body style="font-family:sans-serif;margin:40px">'
        "<h1>Loja Exemplo</h1><p>Tênis, camisetas e bonés.</p>"
        f"{snippet}</body></html>",
        encoding="utf-8",
    )


def _login(context: Any, base: str, email: str) -> Any:
    from playwright.sync_api import expect

    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/chats$"))
    return page


@pytest.mark.parametrize(
    ("lang", "width", "height"), [("pt-BR", 1280, 800), ("en", 390, 844)], ids=["pt-BR", "en"]
)
def test_a_visitor_and_an_operator_chat_live(
    runtime: Runtime,
    two_servers: tuple[str, str],
    browser: Any,  # noqa: F811
    site: str,
    other_site: str,
    site_dir: Path,
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
        json={"transport": "widget", "name": "Site", "allowed_origins": [site],
              "prechat": {"name": "required", "email": "optional", "phone": "off"},
              "title": {"pt-BR": "Loja Exemplo", "en": "Example Shop"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    pid = r.json()["data"]["public_id"]
    snippet = r.json()["data"]["snippet"].replace(operators, visitors)
    _page(site_dir, f"{pid}.html", lang, snippet)
    # the operator's name and the language of their panel
    r = api.put(
        f"/v1/operators/{company.admin_id}",
        json={"first_name": "Ana", "language": "pt_BR" if lang == "pt-BR" else "en"},
    )
    assert r.status_code == 200, r.text
    words = {
        "pt-BR": ("Fale conosco", "Aguardando um atendente…", "Entregue", "Lida",
                  "Ana está atendendo você", "Bia Souza está digitando…", "Ana está digitando…"),
        "en": ("Chat with us", "Waiting for an agent…", "Delivered", "Read",
               "Ana is answering you", "Bia Souza is typing…", "Ana is typing…"),
    }[lang]  # fmt: skip

    # The operator is signed in (on the other process): someone is online.
    op_context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="pt-BR" if lang == "pt-BR" else "en-US"
    )
    operator = _login(op_context, operators, company.admin_email)

    # A site that is not on the allow-list gets no launcher.
    v_context = browser.new_context(
        viewport={"width": width, "height": height}, locale=lang, has_touch=width < 500
    )
    visitor = v_context.new_page()
    visitor.set_default_timeout(15_000)
    visitor.goto(f"{other_site}/{pid}.html")
    visitor.wait_for_load_state("networkidle")
    expect(visitor.get_by_test_id("widget-launcher")).to_have_count(0)

    # The allowed site: launcher, pre-chat form, a message.
    visitor.goto(f"{site}/{pid}.html")
    launcher = visitor.get_by_test_id("widget-launcher")
    expect(launcher).to_have_attribute("aria-label", words[0])
    launcher.click()
    chat = visitor.frame_locator('[data-testid="widget-frame"]')
    expect(chat.get_by_test_id("widget-status")).to_have_text(words[1])
    chat.get_by_test_id("widget-prechat-submit").click()
    expect(chat.locator(".notice")).not_to_be_empty()  # the name is required
    chat.get_by_test_id("widget-prechat-name").fill("Bia Souza")
    chat.get_by_test_id("widget-prechat-email").fill("bia@cliente.example")
    chat.get_by_test_id("widget-prechat-submit").click()
    chat.get_by_test_id("widget-input").fill("Olá! O tênis 42 <b>azul</b> ainda tem?")
    chat.get_by_test_id("widget-send").click()
    mine = chat.locator('[data-testid="widget-message"][data-author="visitor"]')
    expect(mine).to_have_count(1)
    expect(mine.first).to_contain_text("O tênis 42 <b>azul</b> ainda tem?")
    expect(mine.first.get_by_test_id("widget-mark")).to_have_text(words[2])

    # The operator sees it live in Conversas, with what the visitor told, and answers.
    item = operator.get_by_test_id("dialog-item").filter(has_text="Bia Souza")
    expect(item).to_have_count(1, timeout=15_000)
    item.click()
    expect(operator.locator("#messages")).to_contain_text("O tênis 42 <b>azul</b> ainda tem?")
    expect(operator.get_by_test_id("composer-subject")).to_have_count(0)

    # Typing, both ways (the widget sends at most one signal every 3 s: type until it shows).
    for attempt in range(6):
        chat.get_by_test_id("widget-input").fill("Ah, e" + "." * attempt)
        try:
            expect(operator.get_by_test_id("dialog-typing")).to_be_visible(timeout=2_000)
            break
        except AssertionError:
            continue
    expect(operator.get_by_test_id("dialog-typing")).to_have_text(words[5])
    chat.get_by_test_id("widget-input").fill("")
    operator.get_by_test_id("composer-text").fill("Oi, Bia!")
    expect(chat.get_by_test_id("widget-typing")).to_have_text(words[6], timeout=10_000)
    operator.get_by_test_id("composer-text").fill("Oi, Bia! Temos sim, quer que eu separe?")
    operator.get_by_test_id("composer-send").click()

    theirs = chat.locator('[data-testid="widget-message"][data-author="operator"]')
    expect(theirs).to_have_count(1, timeout=10_000)
    expect(theirs.first).to_contain_text("Oi, Bia! Temos sim, quer que eu separe?")
    expect(theirs.first.locator(".who")).to_have_text("Ana")
    expect(chat.get_by_test_id("widget-status")).to_have_text(words[4])
    expect(operator.locator("#messages")).to_contain_text("Oi, Bia! Temos sim")
    shot(operator, f"widget-operator-{lang}-1280x800")
    expect(mine.first.get_by_test_id("widget-mark")).to_have_text(words[3], timeout=10_000)
    shot(visitor, f"widget-visitor-{lang}-{width}x{height}")

    # Where the visitor is, as the widget told it, on the client's card.
    operator.get_by_test_id("client-card-link").click()
    page_link = operator.get_by_test_id("client-visitor-page")
    expect(page_link).to_have_text("Loja Exemplo")
    expect(page_link).to_have_attribute("href", f"{site}/{pid}.html")
    expect(operator.get_by_test_id("client-visitor-browser")).to_contain_text("Chrome")
    expect(operator.get_by_test_id("client-card")).to_contain_text(
        "No site" if lang == "pt-BR" else "On the site"
    )
    shot(operator, f"widget-client-card-{lang}-1280x800")
    operator.set_viewport_size({"width": 390, "height": 844})
    expect(operator.get_by_test_id("client-visitor-page")).to_be_visible()
    shot(operator, f"widget-client-card-{lang}-390x844")
    operator.set_viewport_size({"width": 1280, "height": 800})
    operator.keyboard.press("Escape")

    # A file from the visitor reaches the operator.
    chat.get_by_test_id("widget-file").set_input_files(
        files=[{"name": "nota.txt", "mimeType": "text/plain", "buffer": b"pedido 1234"}]
    )
    expect(mine).to_have_count(2)
    expect(operator.locator("#messages")).to_contain_text("nota.txt", timeout=10_000)

    # A reload keeps the history (the signed visitor token in the frame's storage).
    visitor.reload()
    # (the loader opens the chat again itself when it was open: wait until it has run)
    expect(visitor.get_by_test_id("widget-launcher")).to_have_count(1)
    if not visitor.locator('[data-testid="widget-frame"]').is_visible():
        visitor.get_by_test_id("widget-launcher").click()
    chat = visitor.frame_locator('[data-testid="widget-frame"]')
    every = chat.get_by_test_id("widget-message")
    expect(every).to_have_count(3)
    expect(every.nth(1)).to_contain_text("Oi, Bia! Temos sim, quer que eu separe?")
    expect(chat.get_by_test_id("widget-prechat-submit")).to_have_count(0)

    rows = api.get("/v1/messages", params={"type": "from_client"}).json()["data"]
    assert [m["transport"] for m in rows] == ["widget", "widget"]
    v_context.close()
    op_context.close()
    api.close()


def test_identity_verification_and_the_demo_page(
    runtime: Runtime,
    two_servers: tuple[str, str],
    browser: Any,  # noqa: F811
    site: str,
    site_dir: Path,
) -> None:
    """``Atendo.identify`` with a valid hash joins the site's user to their client; a wrong
    hash is refused (the visitor stays a guest and is told so). ``/widget/demo`` shows the
    widget on the installation itself."""
    import hashlib
    import hmac

    from playwright.sync_api import expect

    visitors, operators = two_servers
    company = make_company(runtime, "Loja")
    api = httpx.Client(base_url=operators, headers={"Authorization": company.token})
    pid = api.post(
        "/v1/channels",
        json={"transport": "widget", "allowed_origins": [site], "identity_secret": "s3gredo",
              "prechat": {"name": "off", "email": "off", "phone": "off"}},
    ).json()["data"]["public_id"]  # fmt: skip
    api.put(f"/v1/operators/{company.admin_id}", json={"online": True})
    carla = api.post("/v1/clients", json={"phone": "+5511911112222", "nickname": "Carla"})
    carla_id = carla.json()["data"]["id"]
    api.put(f"/v1/clients/{carla_id}", json={"external_id": "user-42"})
    good = hmac.new(b"s3gredo", b"user-42", hashlib.sha256).hexdigest()
    for name, digest in (("good", good), ("bad", "0" * 64)):
        (site_dir / f"{pid}-{name}.js").write_text(
            f'window.Atendo = {{}}; addEventListener("load", function () {{'
            f"  var t = setInterval(function () {{ if (Atendo.identify && Atendo.open) {{"
            f'    clearInterval(t); Atendo.identify({{id: "user-42", hash: "{digest}"}});'
            f"    Atendo.open(); }} }}, 50); }});"
        )
        snippet = f'<script src="/{pid}-{name}.js"></script><script src="{visitors}/widget/loader.js" data-channel="{pid}" async></script>'  # noqa: E501
        _page(site_dir, f"{pid}-{name}.html", "pt-BR", snippet)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{site}/{pid}-bad.html")
    chat = page.frame_locator('[data-testid="widget-frame"]')
    expect(chat.locator(".notice")).to_have_text(
        "Não conseguimos confirmar quem você é; você está conversando como visitante."
    )
    context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{site}/{pid}-good.html")
    chat = page.frame_locator('[data-testid="widget-frame"]')
    chat.get_by_test_id("widget-input").fill("Sou a Carla, cliente antiga")
    chat.get_by_test_id("widget-send").click()
    expect(chat.get_by_test_id("widget-mark")).to_have_text("Entregue")
    expect(chat.locator(".notice")).to_be_hidden()
    rows = api.get("/v1/messages", params={"client_id": carla_id}).json()["data"]
    assert [(m["text"], m["transport"]) for m in rows] == [
        ("Sou a Carla, cliente antiga", "widget")
    ]
    # the demo page on the installation's own origin
    page.goto(f"{visitors}/widget/demo?channel={pid}")
    page.get_by_test_id("widget-launcher").click()
    expect(
        page.frame_locator('[data-testid="widget-frame"]').get_by_test_id("widget-input")
    ).to_be_visible()
    shot(page, "widget-demo-pt-BR-1280x800")
    context.close()
    api.close()
