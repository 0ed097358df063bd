"""Issue 18 on the panel's side, without a browser: the safety headers, templates without any
inline script, the raw mail download's sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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


def test_tag_colours_must_be_colours_and_old_rows_render_safely(
    runtime: Runtime, company: CompanyFixture, app_client: TestClient, signin: Signin
) -> None:
    from sqlalchemy import update

    from atendo.core.tags.models import Tag

    http = app_client
    layer = "red;position:fixed"  # fits the column: the review's full-screen layer, shortened
    for bad in (layer, "url(//evil.example)", "#12345", "red"):
        r = http.post(
            "/v1/tags", headers=company.headers, json={"tag_label": "x", "tag_bg_color": bad}
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"] == {"tag_bg_color": ["#rgb or #rrggbb"]}
    ok = http.post(
        "/v1/tags", headers=company.headers, json={"tag_label": "VIP", "tag_bg_color": "#1E88E5"}
    )
    assert ok.status_code in (200, 201), ok.text
    with runtime.db.transaction() as session:  # a row written before the check existed
        session.execute(update(Tag).where(Tag.company_id == company.id).values(text_color=layer))
    client = signin(company.admin_email, company.admin_password)
    page = client.http.get("/settings/tags")
    assert 'style="background: #1E88E5; color: #1e1b4b"' in page.text
    assert "position" not in page.text


def test_the_tag_form_answers_an_invalid_colour_with_a_sentence(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    """The panel's tag forms (new and edit) refuse what is not a colour in the operator's
    words, saving nothing, instead of putting a default in its place without a word."""
    from sqlalchemy import select

    from atendo.core.tags.models import Tag

    def tags() -> list[tuple[str, str, str]]:
        with runtime.db.reading() as session:
            rows = session.execute(
                select(Tag.label, Tag.bg_color, Tag.text_color)
                .where(Tag.company_id == company.id)
                .order_by(Tag.id)
            )
            return [tuple(row) for row in rows]

    client = signin(company.admin_email, company.admin_password)
    sentence = "Escolha as cores da tag na paleta (como #1e88e5)."
    for bad in ("red;position:fixed", "url(//evil.example)", "#12345"):
        r = client.post("/settings/tags", {"label": "VIP", "bg_color": bad})
        assert r.status_code == 422, bad  # type: ignore[attr-defined]
        assert sentence in r.text  # type: ignore[attr-defined]
    assert tags() == []
    r = client.post("/settings/tags", {"label": "VIP", "bg_color": "#1e88e5"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert tags() == [("VIP", "#1e88e5", "#1e1b4b")]
    with runtime.db.reading() as session:
        tag_id = session.scalar(select(Tag.id).where(Tag.company_id == company.id))
    r = client.post(f"/settings/tags/{tag_id}", {"label": "VIP", "text_color": "blue"})
    assert r.status_code == 422 and sentence in r.text  # type: ignore[attr-defined]
    assert tags() == [("VIP", "#1e88e5", "#1e1b4b")]


def test_bidi_overrides_leave_download_names_and_names_render_isolated(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    raw = (
        b"From: =?utf-8?b?4oCuQW5h?= <ana@client.example>\r\nTo: support@acme.example\r\n"
        b"Subject: invoice\r\nMessage-ID: <bidi-1@client.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\n\r\n"
        b"MZ\r\n--b--\r\n"
    )
    found = ingest(runtime, channel, raw)
    assert found
    _mid, dialog_id = found
    client = signin(company.admin_email, company.admin_password)
    page = client.http.get(f"/chats/{dialog_id}")
    shown = re.search(r'data-testid="attachment-name">([^<]*)<', page.text)
    assert shown and shown[1] == "invoicefdp.exe"
    link = re.search(r'href="(/panel/attachments/\d+)"', page.text)
    assert link
    r = client.http.get(link[1])
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''invoicefdp.exe"
    css = (TEMPLATES.parent / "static" / "app.css").read_text()
    assert ".name, .author, .client, .addr, .filename" in css and "unicode-bidi: isolate" in css


def test_out_of_range_ids_are_a_404_page_on_both_databases(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    client = signin(company.admin_email, company.admin_password)
    for url in (f"/chats/{2**63}", f"/chats/{2**70}/messages", f"/panel/attachments/{2**64}"):
        r = client.http.get(url)
        assert r.status_code == 404, (url, r.status_code, r.text[:300])


def test_live_events_only_of_dialogs_the_operator_may_open(
    runtime: Runtime, company: CompanyFixture
) -> None:
    from atendo.core.dialogs.service import assign_dialog
    from atendo.core.enums import Role
    from atendo.core.events.service import EventCursor
    from atendo.core.operators.service import create_operator
    from atendo.panel.auth import PanelUser
    from atendo.panel.live import visible_events

    channel = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        op = create_operator(
            session, company_id=company.id, email=f"op-{company.id}@acme.example",
            password="operator pass", role=Role.OPERATOR,
        )  # fmt: skip
        other = create_operator(
            session, company_id=company.id, email=f"other-{company.id}@acme.example",
            password="operator pass", role=Role.OPERATOR,
        )  # fmt: skip
        op_id, other_id = op.id, other.id
    with runtime.db.reading() as session:
        from atendo.core.events.service import last_event_id

        start = last_event_id(session, company_id=company.id)
    mine = ingest(runtime, channel, mail_from("ana@client.example", "mine"))
    theirs = ingest(runtime, channel, mail_from("bia@client.example", "theirs"))
    free = ingest(runtime, channel, mail_from("caio@client.example", "free"))
    assert mine and theirs and free
    with runtime.db.transaction() as session:
        assign_dialog(session, company_id=company.id, dialog_id=mine[1], operator_id=op_id)
        assign_dialog(session, company_id=company.id, dialog_id=theirs[1], operator_id=other_id)
    user = PanelUser(
        id=op_id, company_id=company.id, role=Role.OPERATOR.value, email="", name="",
        language="en", timezone="UTC", csrf="", session_id=0,
    )  # fmt: skip
    with runtime.db.reading() as session:
        events = EventCursor(start).read(session, company_id=company.id, limit=1000)
        shown = {e.dialog_id for e in visible_events(session, user, events)}
        every = {e.dialog_id for e in events}
    assert theirs[1] in every and theirs[1] not in shown
    assert {mine[1], free[1]} <= shown


def test_a_long_body_is_sent_once_on_request_never_with_each_refresh(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    from atendo.panel.views import BODY_PREVIEW_CHARS

    channel = email_channel(runtime, company.id)
    body = ("linha de texto longa " * 5 + "\r\n") * 12_000  # about 1.3 MB of text
    found = ingest(runtime, channel, mail_from("ana@client.example", "Relatório", body))
    assert found
    message_id, dialog_id = found
    client = signin(company.admin_email, company.admin_password)
    page = client.http.get(f"/chats/{dialog_id}")
    refresh = client.http.get(f"/chats/{dialog_id}/messages")
    for r in (page, refresh):
        assert r.status_code == 200
        assert len(r.text) < BODY_PREVIEW_CHARS + 60_000  # the page around it, not the body
        assert f'hx-get="/messages/{message_id}/text"' in r.text
        assert "mostrar tudo" in r.text
    whole = client.http.get(f"/messages/{message_id}/text")
    assert whole.status_code == 200
    assert whole.text.count("linha de texto longa") == 12_000 * 5
