"""Take the README's screenshots: ``python -m tests.panel.readme_screenshots``.

A throw-away installation filled by ``atendo company create`` + ``atendo demo``, plus one
connected-looking e-mail channel, served by ``atendo serve --no-workers`` (so the sample data
stays exactly as written), photographed by headless Chromium into ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.panel.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "screenshots"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atendo-shots-"))
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(tmp / "data"),
        "ATENDO_DATABASE_URL": f"sqlite:///{tmp / 'atendo.db'}",
        "ATENDO_SECRET_KEY": "screenshots",
        "ATENDO_LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "atendo"]
    email, password = "ana.lopes@exemplo.com.br", "demo senha 123"
    created = subprocess.run(
        [*cli, "company", "create", "--name", "Loja Exemplo", "--admin-email", email,
         "--admin-password", password],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    company_id = json.loads(created.stdout.strip().splitlines()[-1])["company_id"]
    subprocess.run([*cli, "demo", "--company-id", str(company_id)], env=env, check=True)
    _add_channel(env, company_id)
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--no-workers", "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        _shoot(base, email, password)
    finally:
        server.terminate()
        server.wait(timeout=15)


def _add_channel(env: dict[str, str], company_id: int) -> None:
    code = f"""
import atendo.core.models  # noqa: F401  (every table, for the foreign keys)
from atendo.core.channels.service import create_channel, mark_connected
from atendo.core.enums import ChannelStatus
from atendo.runtime import Runtime
from atendo.settings import Settings
rt = Runtime.from_settings(Settings())
with rt.db.transaction() as s:
    ch = create_channel(s, company_id={company_id}, transport="email", name="Suporte",
        settings={{"email": "suporte@exemplo.com.br", "sender_name": "Suporte Loja Exemplo",
            "imap_host": "imap.exemplo.com.br", "imap_port": 993, "imap_security": "ssl",
            "smtp_host": "smtp.exemplo.com.br", "smtp_port": 587, "smtp_security": "starttls",
            "login": "suporte@exemplo.com.br", "smtp_login": "suporte@exemplo.com.br",
            "send_delay": 15, "import_days": 3, "copy_to_sent": True, "tls_verify": True,
            "write_first": True}},
        secrets={{"password": "x"}}, box=rt.box, status=ChannelStatus.CONNECTING)
    mark_connected(s, channel=ch)
print(ch.id)
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def _shoot(base: str, email: str, password: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 800}, locale="pt-BR")
        page.goto(base + "/login")
        page.get_by_test_id("login-email").fill(email)
        page.get_by_test_id("login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url("**/chats")
        page.get_by_test_id("dialog-item").filter(has_text="Mariana").click()
        page.wait_for_selector("[data-testid=message]")
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUT / "chats.png"))
        page.goto(base + "/settings/channels")
        page.get_by_test_id("channel-row").filter(has_text="Suporte").get_by_test_id(
            "channel-edit"
        ).click()
        page.wait_for_selector("[data-testid=channel-form]")
        page.screenshot(path=str(OUT / "channel-settings.png"))
        phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="pt-BR")
        phone.goto(base + "/login")
        phone.get_by_test_id("login-email").fill(email)
        phone.get_by_test_id("login-password").fill(password)
        phone.get_by_test_id("login-submit").click()
        phone.wait_for_url("**/chats")
        phone.screenshot(path=str(OUT / "phone-list.png"))
        phone.get_by_test_id("dialog-item").filter(has_text="Mariana").click()
        phone.wait_for_selector("[data-testid=message]")
        phone.wait_for_timeout(500)
        phone.screenshot(path=str(OUT / "phone-conversation.png"))
        browser.close()


if __name__ == "__main__":
    main()
