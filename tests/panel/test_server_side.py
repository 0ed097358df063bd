"""Server-side panel tests (no browser): CSRF, roles and visibility, throttling, languages,
and hostile mail rendering inert."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from atendo.core.dialogs.service import assign_dialog
from atendo.core.enums import Role
from atendo.core.operators.service import create_operator, update_operator
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.panel.conftest import PanelClient, email_channel, ingest, mail_from

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "email" / "hostile"
Signin = Callable[[str, str], PanelClient]


def add_operator(
    runtime: Runtime, company: CompanyFixture, role: Role, tag: str
) -> tuple[int, str]:
    email = f"{tag}-{company.id}@acme.example"
    with runtime.db.transaction() as session:
        op = create_operator(
            session, company_id=company.id, email=email, password="operator pass", role=role
        )
        return op.id, email


# --- CSRF ------------------------------------------------------------------------------------


def test_unsafe_requests_need_the_session_csrf_token(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, mail_from("ana@client.example", "Oi"))
    assert found
    _mid, dialog_id = found
    client = signin(company.admin_email, company.admin_password)

    assert client.http.post(f"/chats/{dialog_id}/close").status_code == 403
    assert client.http.post("/settings/tags", data={"label": "x"}).status_code == 403
    forged = client.http.post(f"/chats/{dialog_id}/close", headers={"X-CSRF-Token": "0" * 32})
    assert forged.status_code == 403
    # the header htmx sends (hx-headers on <body>) and the form field both work
    ok = client.http.post(f"/chats/{dialog_id}/close", headers={"X-CSRF-Token": client.csrf})
    assert ok.status_code == 200
    assert client.post(f"/chats/{dialog_id}/reopen").status_code == 200  # type: ignore[attr-defined]


def test_sign_in_form_needs_its_token_and_the_cookie_flags_are_set(
    company: CompanyFixture, signin: Signin
) -> None:
    client = signin(company.admin_email, company.admin_password)
    http = client.http
    http.cookies.clear()
    refused = http.post(
        "/login", data={"email": company.admin_email, "password": company.admin_password}
    )
    assert refused.status_code == 403
    page = http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    r = http.post(
        "/login",
        data={"email": company.admin_email, "password": company.admin_password, "csrf": token[1]},
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_login_is_throttled_after_repeated_failures(
    company: CompanyFixture, signin: Signin
) -> None:
    client = signin(company.admin_email, company.admin_password)
    http = client.http
    http.cookies.clear()
    page = http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    codes = [
        http.post(
            "/login", data={"email": company.admin_email, "password": "wrong", "csrf": token[1]}
        ).status_code
        for _ in range(5)
    ]
    assert codes == [401] * 5
    right = http.post(
        "/login",
        data={"email": company.admin_email, "password": company.admin_password, "csrf": token[1]},
    )
    assert right.status_code == 429


def test_sign_out_ends_the_session(company: CompanyFixture, signin: Signin) -> None:
    client = signin(company.admin_email, company.admin_password)
    assert client.post("/logout").status_code == 303  # type: ignore[attr-defined]
    assert client.http.get("/chats").headers["location"] == "/login"


# --- roles -------------------------------------------------------------------------------------


def test_operators_cannot_open_settings_and_supervisors_only_some(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    _op, op_email = add_operator(runtime, company, Role.OPERATOR, "op")
    _sup, sup_email = add_operator(runtime, company, Role.SUPERVISOR, "sup")
    operator = signin(op_email, "operator pass")
    for url in ("/settings", "/settings/channels", "/settings/tags", "/settings/api"):
        assert operator.http.get(url).status_code == 403, url
    assert operator.post("/settings/api/token").status_code == 403  # type: ignore[attr-defined]
    assert "/settings" not in operator.http.get("/chats").text

    supervisor = signin(sup_email, "operator pass")
    assert supervisor.http.get("/settings/tags").status_code == 200
    assert supervisor.http.get("/settings/blocks").status_code == 200
    assert supervisor.http.get("/settings/channels").status_code == 403
    assert supervisor.http.get("/settings/api").status_code == 403
    admin = signin(company.admin_email, company.admin_password)
    assert admin.http.get("/settings/channels").status_code == 200


def test_operators_see_their_own_and_unassigned_dialogs_supervisors_all(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    op_id, op_email = add_operator(runtime, company, Role.OPERATOR, "op")
    other_id, _other = add_operator(runtime, company, Role.OPERATOR, "other")
    _sup, sup_email = add_operator(runtime, company, Role.SUPERVISOR, "sup")
    channel = email_channel(runtime, company.id)
    dialogs = []
    for who in ("mine", "free", "theirs"):
        found = ingest(runtime, channel, mail_from(f"{who}@client.example", f"about {who}"))
        assert found
        dialogs.append(found[1])
    mine, free, theirs = dialogs
    with runtime.db.transaction() as session:
        assign_dialog(session, company_id=company.id, dialog_id=mine, operator_id=op_id)
        assign_dialog(session, company_id=company.id, dialog_id=theirs, operator_id=other_id)

    def listed(client: PanelClient, who: str = "all") -> set[int]:
        page = client.http.get(f"/chats/list?who={who}&state=")
        return {int(x) for x in re.findall(r'data-dialog-id="(\d+)"', page.text)}

    operator = signin(op_email, "operator pass")
    assert listed(operator) == {mine, free}
    assert listed(operator, "mine") == {mine}
    assert listed(operator, "unassigned") == {free}
    assert operator.http.get(f"/chats/{mine}/pane").status_code == 200
    assert operator.http.get(f"/chats/{theirs}/pane").status_code == 404
    assert operator.http.get(f"/chats/{theirs}/messages").status_code == 404
    assert operator.post(f"/chats/{theirs}/close").status_code == 404  # type: ignore[attr-defined]

    supervisor = signin(sup_email, "operator pass")
    assert listed(supervisor) == {mine, free, theirs}
    assert supervisor.http.get(f"/chats/{theirs}/pane").status_code == 200


def test_another_company_dialog_is_not_found(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, other_company.id)
    found = ingest(runtime, channel, mail_from("x@client.example", "secret"))
    assert found
    admin = signin(company.admin_email, company.admin_password)
    assert admin.http.get(f"/chats/{found[1]}/pane").status_code == 404
    assert found[1] not in re.findall(r'data-dialog-id="(\d+)"', admin.http.get("/chats").text)


# --- languages ---------------------------------------------------------------------------------


def test_portuguese_by_default_english_when_the_operator_picks_it(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    assert "Novo ativo" in admin.http.get("/chats").text
    with runtime.db.transaction() as session:
        update_operator(session, company_id=company.id, operator_id=company.admin_id, language="en")
    page = admin.http.get("/chats").text
    assert "New chat" in page and "Novo ativo" not in page


# --- hostile mail ------------------------------------------------------------------------------


class _Scan(HTMLParser):
    """Collects every tag and attribute, and the documents inside iframe ``srcdoc``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def assert_inert(fragment: str, *, depth: int = 0, remote_ok: bool = False) -> int:
    """No script, no event handler, no javascript: URL, no active embedding; remote images
    only as ``data-remote-src``. Returns how many mail bodies (srcdoc) were checked."""
    scan = _Scan()
    scan.feed(fragment)
    bodies = 0
    for tag, attrs in scan.tags:
        assert tag not in ("script", "object", "embed", "applet"), tag
        assert depth == 0 or tag not in ("form", "input", "button", "link"), tag
        if depth > 0:
            assert tag not in ("iframe", "meta") or (
                tag == "meta" and attrs.get("http-equiv", "").lower() != "refresh"
            ), (tag, attrs)
        for name, value in attrs.items():
            assert not (name.startswith("on") and depth > 0), (tag, name, value)
            assert not (name.startswith("on") and depth == 0 and tag != "button"), (tag, name)
            lowered = re.sub(r"\s", "", html.unescape(value)).lower()
            assert not lowered.startswith(("javascript:", "data:text/html")), (tag, name, value)
            if depth > 0 and tag == "img" and name == "src" and not remote_ok:
                assert not lowered.startswith(("http:", "https:", "//")), value
            if depth > 0 and name == "style":
                assert "url(" not in lowered and "position" not in lowered, value
        if tag == "iframe":
            assert "allow-scripts" not in attrs.get("sandbox", "allow-scripts")
            bodies += 1 + assert_inert(
                attrs.get("srcdoc", ""), depth=depth + 1, remote_ok=remote_ok
            )
    return bodies


def test_hostile_mail_renders_inert(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    admin = signin(company.admin_email, company.admin_password)
    for path in sorted(HOSTILE.glob("*.eml")):
        found = ingest(runtime, channel, path.read_bytes())
        assert found, path
        for url in (f"/chats/{found[1]}/messages", f"/chats/{found[1]}/pane"):
            page = admin.http.get(url)
            assert page.status_code == 200
            assert "<script" not in page.text.lower()
            assert assert_inert(page.text) >= 1, path
        # "show images" lets remote images load, and still nothing runs
        shown = admin.http.get(f"/messages/{found[0]}/body?images=1")
        assert shown.status_code == 200 and "<script" not in shown.text.lower()
        assert assert_inert(shown.text, remote_ok=True) == 1
        assert "https://tracker.evil.example/pixel.gif" in html.unescape(shown.text) or (
            "attribute_breakout" in path.name
        )


def _corpus_mail(corpus: Path) -> list[Path]:
    picks: list[Path] = []
    for folder in ("spamscope-mail-parser", "flanker-fixtures/tests/fixtures/messages/spam"):
        base = corpus / folder
        if base.is_dir():
            picks += [
                p
                for p in sorted(base.rglob("*"))
                if p.is_file() and p.suffix not in (".txt", ".md", ".json", ".py", ".msg", ".html")
            ][:25]
    return picks


def test_corpus_spam_renders_inert(
    runtime: Runtime, company: CompanyFixture, signin: Signin, corpus_dir: Path
) -> None:
    files = _corpus_mail(corpus_dir)
    if not files:
        pytest.skip("no spam folders in the corpus")
    channel = email_channel(runtime, company.id)
    admin = signin(company.admin_email, company.admin_password)
    dialogs = set()
    for path in files:
        found = ingest(runtime, channel, path.read_bytes())
        if found:
            dialogs.add(found[1])
    assert dialogs
    for dialog_id in sorted(dialogs):
        page = admin.http.get(f"/chats/{dialog_id}/messages")
        assert page.status_code == 200
        assert "<script" not in page.text.lower()
        assert_inert(page.text)
