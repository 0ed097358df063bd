"""Issue 18 on the panel's side, without a browser: the safety headers, templates without any
inline script, the raw mail download's sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from atendo.kit.clock import set_clock
from atendo.panel.headers import PANEL_CSP
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_mail, queued_reply
from tests.factories import email_channel as saved_channel
from tests.panel.conftest import PanelClient, email_channel, ingest, mail_from

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "atendo" / "panel" / "templates"
Signin = Callable[[str, str], PanelClient]


def test_every_panel_page_sends_the_csp_and_framing_and_referrer_headers(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, mail_from("ana@client.example", "Oi"))
    assert found
    _mid, dialog_id = found
    client = signin(company.admin_email, company.admin_password)
    for url in ("/chats", f"/chats/{dialog_id}", "/settings/tags", "/me", "/chats/new"):
        r = client.http.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-security-policy"] == PANEL_CSP, url
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
    policy = dict(part.strip().split(" ", 1) for part in PANEL_CSP.split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    login = client.http.get("/login")
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    # JSON answers carry a policy that loads nothing
    api = client.http.get("/healthz")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["x-content-type-options"] == "nosniff"


def test_no_template_has_an_inline_script_or_handler() -> None:
    inline = re.compile(r"<script(?![^>]*\bsrc=)|\son[a-z]+\s*=|hx-on|js:|javascript:", re.I)
    found = {
        str(path.relative_to(TEMPLATES)): inline.findall(path.read_text())
        for path in TEMPLATES.rglob("*.html")
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_raw_mail_download_is_sandboxed_and_not_sniffed(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, mail_from("ana@client.example", "Oi", "<b>x</b>"))
    assert found
    message_id, _dialog_id = found
    client = signin(company.admin_email, company.admin_password)
    r = client.http.get(f"/panel/messages/{message_id}/original")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("message/rfc822")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert "attachment" in r.headers["content-disposition"]


def test_every_mail_connection_sentence_is_translated() -> None:
    from babel.messages.pofile import read_po

    from atendo.transports.email.network import SENTENCES

    path = TEMPLATES.parent / "locale" / "pt_BR" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fp:
        pt = {str(m.id): str(m.string) for m in read_po(fp) if m.id}
    assert sorted(s for s in SENTENCES if not pt.get(s)) == []


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [datetime(2026, 12, 7, 12, 0, 0).astimezone()]
    set_clock(lambda: now[0])
    try:
        yield now
    finally:
        set_clock(None)


def test_the_operator_sees_a_held_message_and_the_limits(
    runtime: Runtime, company: CompanyFixture, signin: Signin, clock: list[datetime]
) -> None:
    channel = saved_channel(runtime, company.id, "held@acme.example", send_delay=0)
    dialog_id = client_mail(runtime, channel, sender="caio@example.org").dialog_id
    queued_reply(runtime, company.id, dialog_id, text="waiting")
    clock[0] += timedelta(minutes=5)
    client = signin(company.admin_email, company.admin_password)
    page = client.http.get(f"/chats/{dialog_id}")
    assert page.status_code == 200
    assert 'data-testid="message-held"' in page.text
    assert "limite de envio deste canal (60 por minuto, 1000 por hora)" in page.text
    new_chat = client.http.get("/chats/new")
    assert "No máximo 50 destinatários por mensagem." in new_chat.text
