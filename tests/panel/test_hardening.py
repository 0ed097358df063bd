"""Issue 18 on the panel's side, without a browser: the safety headers, templates without any
inline script, the raw mail download's sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from atendo.panel.headers import PANEL_CSP
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
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
