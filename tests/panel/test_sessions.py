"""Server-side panel sessions (sign-out, password change, disabling, expiry, CSRF binding) and
the operator's own preferences page (language, time zone, password, sessions)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.enums import Role
from atendo.core.messages.models import Message
from atendo.core.operators.models import Operator, PanelSession
from atendo.core.operators.service import update_operator
from atendo.core.operators.sessions import LIFETIME, TOUCH_EVERY, end_operator_sessions
from atendo.kit.clock import set_clock
from atendo.migrations import alembic_config
from atendo.panel import live
from atendo.panel.auth import COOKIE
from atendo.panel.routes.me import device_label
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.panel.conftest import PanelClient, email_channel, ingest, mail_from
from tests.panel.test_server_side import add_operator

Signin = Callable[[str, str], PanelClient]
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)


class FrozenClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    set_clock(lambda: frozen.now)
    try:
        yield frozen
    finally:
        set_clock(None)


def session_count(runtime: Runtime, operator_id: int) -> int:
    with runtime.db.reading() as session:
        stmt = select(func.count()).where(PanelSession.operator_id == operator_id)
        return session.scalar(stmt) or 0


def copy_of(client: PanelClient, app: object) -> TestClient:
    """Another browser holding the same cookie (say, one stolen from a shared computer)."""
    thief = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    thief.cookies.set(COOKIE, client.http.cookies[COOKIE])
    return thief


def signed_in(http: TestClient) -> bool:
    response = http.get("/chats")
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


# --- the session row ---------------------------------------------------------------------------


def test_the_cookie_is_a_random_token_of_which_only_the_hash_is_stored(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    token = admin.http.cookies[COOKIE]
    assert str(company.admin_id) not in token.split(".")  # nothing guessable in it any more
    with runtime.db.reading() as session:
        rows = list(
            session.scalars(
                select(PanelSession).where(PanelSession.operator_id == company.admin_id)
            )
        )
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert rows[0].company_id == company.id
    assert rows[0].expires - rows[0].created == LIFETIME


def test_sign_out_revokes_a_copied_cookie(
    runtime: Runtime, company: CompanyFixture, signin: Signin, panel_app: object
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    with copy_of(admin, panel_app) as thief:
        assert signed_in(thief)
        assert admin.post("/logout").status_code == 303  # type: ignore[attr-defined]
        assert not signed_in(thief)
        assert thief.post("/logout", data={"csrf": admin.csrf}).headers["location"] == "/login"
    assert not signed_in(admin.http)
    assert session_count(runtime, company.admin_id) == 0


def test_csrf_tokens_are_bound_to_their_own_session(
    company: CompanyFixture, signin: Signin
) -> None:
    first = signin(company.admin_email, company.admin_password)
    second = signin(company.admin_email, company.admin_password)
    assert first.csrf != second.csrf
    stolen = second.http.post("/settings/tags", data={"label": "x", "csrf": first.csrf})
    assert stolen.status_code == 403
    # the session the token was made for still accepts it
    assert first.post("/settings/tags", {"label": "ok"}).status_code == 303  # type: ignore[attr-defined]


# --- what ends every session of an operator ----------------------------------------------------


def test_changing_the_password_ends_the_other_sessions_but_not_this_one(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    laptop = signin(company.admin_email, company.admin_password)
    phone = signin(company.admin_email, company.admin_password)
    wrong = laptop.post(  # type: ignore[attr-defined]
        "/me/password", {"current": "not it", "new": "a new password", "confirm": "a new password"}
    )
    assert wrong.status_code == 422 and "A senha atual está errada." in wrong.text
    assert signed_in(phone.http)

    changed = laptop.post(  # type: ignore[attr-defined]
        "/me/password",
        {"current": company.admin_password, "new": "a new password", "confirm": "a new password"},
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/me?done=password"
    assert signed_in(laptop.http)
    assert not signed_in(phone.http)
    assert session_count(runtime, company.admin_id) == 1
    assert "Senha alterada." in laptop.http.get("/me?done=password").text
    signin(company.admin_email, "a new password")
    with pytest.raises(AssertionError):
        signin(company.admin_email, company.admin_password)


def test_the_new_password_is_checked_before_anything_changes(
    company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    for new, confirm, message in (
        ("short", "short", "pelo menos 8 caracteres"),
        ("a new password", "another one", "As duas novas senhas são diferentes."),
    ):
        r = admin.post(  # type: ignore[attr-defined]
            "/me/password", {"current": company.admin_password, "new": new, "confirm": confirm}
        )
        assert r.status_code == 422 and message in r.text
    signin(company.admin_email, company.admin_password)


def test_a_password_set_by_someone_else_ends_every_session(
    runtime: Runtime, company: CompanyFixture, signin: Signin, panel_app: object
) -> None:
    op_id, email = add_operator(runtime, company, Role.OPERATOR, "reset")
    operator = signin(email, "operator pass")
    with runtime.db.transaction() as session:  # what PUT /v1/operators/{id} with a password does
        update_operator(
            session, company_id=company.id, operator_id=op_id, password="set by the admin"
        )
    assert not signed_in(operator.http)
    assert session_count(runtime, op_id) == 0


def test_disabling_an_operator_ends_their_sessions_for_good(
    runtime: Runtime, company: CompanyFixture, signin: Signin, panel_app: object
) -> None:
    op_id, email = add_operator(runtime, company, Role.OPERATOR, "leaver")
    operator = signin(email, "operator pass")
    admin = signin(company.admin_email, company.admin_password)
    with copy_of(operator, panel_app) as copy:
        r = admin.post(f"/settings/operators/{op_id}/role", {"role": "disabled"})  # type: ignore[attr-defined]
        assert r.status_code == 303
        assert not signed_in(operator.http) and not signed_in(copy)
        # enabled again, the old cookie stays dead: the session row is gone, not just hidden
        admin.post(f"/settings/operators/{op_id}/role", {"role": "operator"})  # type: ignore[attr-defined]
        assert not signed_in(copy)
    assert session_count(runtime, op_id) == 0
    assert signed_in(signin(email, "operator pass").http)


def test_disabling_or_resetting_through_the_api_ends_the_panel_sessions(
    runtime: Runtime, company: CompanyFixture, signin: Signin, api: TestClient
) -> None:
    disabled_id, disabled_email = add_operator(runtime, company, Role.OPERATOR, "api-off")
    reset_id, reset_email = add_operator(runtime, company, Role.OPERATOR, "api-reset")
    disabled = signin(disabled_email, "operator pass")
    reset = signin(reset_email, "operator pass")
    r = api.put(f"/v1/operators/{disabled_id}", json={"role": "disabled"})
    assert r.status_code == 200, r.text
    r = api.put(f"/v1/operators/{reset_id}", json={"password": "reset by the api"})
    assert r.status_code == 200, r.text
    assert not signed_in(disabled.http) and not signed_in(reset.http)
    assert session_count(runtime, disabled_id) == session_count(runtime, reset_id) == 0


def test_deleting_an_operator_deletes_their_sessions(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    op_id, email = add_operator(runtime, company, Role.OPERATOR, "deleted")
    operator = signin(email, "operator pass")
    assert session_count(runtime, op_id) == 1
    with runtime.db.transaction() as session:
        op = session.get(Operator, op_id)
        session.delete(op)
    assert session_count(runtime, op_id) == 0
    assert not signed_in(operator.http)


@pytest.mark.timeout(60, method="thread")
def test_a_live_stream_ends_once_its_session_is_revoked(
    runtime: Runtime, company: CompanyFixture, signin: Signin, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    real_check = live.session_alive

    def revoked_meanwhile(session: Session, *, company_id: int, session_id: int) -> bool:
        # Sign out on another tab while the stream runs, then let the real check look.
        with runtime.db.transaction() as other:
            end_operator_sessions(other, company_id=company.id, operator_id=company.admin_id)
        return real_check(session, company_id=company_id, session_id=session_id)

    monkeypatch.setattr(live, "RECHECK", 0.0)
    monkeypatch.setattr(live, "session_alive", revoked_meanwhile)
    # The test client returns once the app has finished the response: that the call returns
    # at all is what shows the stream ended.
    response = admin.http.get("/live")
    assert response.status_code == 200
    assert response.text == "retry: 2000\n\n"


# --- expiry and activity ---------------------------------------------------------------------


def test_an_expired_session_is_refused(
    runtime: Runtime, company: CompanyFixture, signin: Signin, clock: FrozenClock
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    clock.advance(LIFETIME - timedelta(seconds=1))
    assert signed_in(admin.http)
    clock.advance(timedelta(seconds=1))
    assert not signed_in(admin.http)
    # the next sign-in clears the expired row away
    signin(company.admin_email, company.admin_password)
    assert session_count(runtime, company.admin_id) == 1


def test_last_seen_is_written_at_most_once_a_minute(
    runtime: Runtime, company: CompanyFixture, signin: Signin, clock: FrozenClock
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    signed_at = clock.now

    def last_seen() -> datetime:
        with runtime.db.reading() as session:
            stmt = select(PanelSession.last_seen).where(
                PanelSession.operator_id == company.admin_id
            )
            value = session.scalar(stmt)
            assert value is not None
            return value

    clock.advance(TOUCH_EVERY - timedelta(seconds=1))
    assert signed_in(admin.http)
    assert last_seen() == signed_at
    clock.advance(timedelta(seconds=1))
    assert signed_in(admin.http)
    assert last_seen() == clock.now


# --- the preferences page --------------------------------------------------------------------


def test_the_header_links_to_the_preferences_page(company: CompanyFixture, signin: Signin) -> None:
    admin = signin(company.admin_email, company.admin_password)
    assert 'href="/me"' in admin.http.get("/chats").text
    page = admin.http.get("/me").text
    assert "Minhas preferências" in page and "Fuso horário" in page
    assert '<option value="America/Sao_Paulo" selected>' in page
    assert '<option value="Asia/Tokyo" >' in page
    assert page.count('data-testid="session-row"') == 1 and "este dispositivo" in page


def test_the_time_zone_chosen_on_the_page_changes_the_times_shown(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = email_channel(runtime, company.id)
    found = ingest(runtime, channel, mail_from("ana@client.example", "Horário"))
    assert found
    message_id, dialog_id = found
    with runtime.db.reading() as session:
        message = session.get(Message, message_id)
        assert message is not None
        created = message.created

    def shown_in(zone: str) -> str:  # "25 de nov. de 2026 10:00": pt-BR, no seconds
        local = created.astimezone(ZoneInfo(zone))
        months = [
            "jan",
            "fev",
            "mar",
            "abr",
            "mai",
            "jun",
            "jul",
            "ago",
            "set",
            "out",
            "nov",
            "dez",
        ]
        return f"{local.day} de {months[local.month - 1]}. de {local.year} {local:%H:%M}"

    admin = signin(company.admin_email, company.admin_password)
    assert shown_in("America/Sao_Paulo") != shown_in("Asia/Tokyo")
    assert shown_in("America/Sao_Paulo") in admin.http.get(f"/chats/{dialog_id}/messages").text

    saved = admin.post("/me/preferences", {"timezone": "Asia/Tokyo", "from_page": "me"})  # type: ignore[attr-defined]
    assert saved.status_code == 303 and saved.headers["location"] == "/me?done=saved"
    page = admin.http.get("/me?done=saved").text
    assert "Preferências salvas." in page
    assert '<option value="Asia/Tokyo" selected>' in page
    messages = admin.http.get(f"/chats/{dialog_id}/messages").text
    assert shown_in("Asia/Tokyo") in messages
    assert shown_in("America/Sao_Paulo") not in messages


def test_an_unknown_time_zone_is_refused_and_nothing_changes(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    for bad in ("Mars/Olympus_Mons", "localtime", "../../etc/passwd"):
        r = admin.post("/me/preferences", {"timezone": bad, "from_page": "me"})  # type: ignore[attr-defined]
        assert r.status_code == 422 and "Escolha um fuso horário da lista." in r.text
    with runtime.db.reading() as session:
        op = session.get(Operator, company.admin_id)
        assert op is not None and op.timezone == "America/Sao_Paulo"


def test_the_language_chosen_on_the_page_translates_the_panel(
    company: CompanyFixture, signin: Signin
) -> None:
    admin = signin(company.admin_email, company.admin_password)
    admin.post("/me/preferences", {"language": "en", "from_page": "me"})  # type: ignore[attr-defined]
    page = admin.http.get("/me?done=saved").text
    assert "My preferences" in page and "Preferences saved." in page
    # the header's quick switch returns to the page it was used on, never elsewhere
    back = admin.post(  # type: ignore[attr-defined]
        "/me/preferences", {"language": "pt_BR"}, headers={"referer": "http://testserver/chats?x=1"}
    )
    assert back.headers["location"] == "/chats?x=1"
    away = admin.post(  # type: ignore[attr-defined]
        "/me/preferences", {"language": "pt_BR"}, headers={"referer": "https://evil.example/"}
    )
    assert away.headers["location"] == "/chats"


def test_ending_one_session_from_the_list_and_signing_out_everywhere(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture, signin: Signin
) -> None:
    laptop = signin(company.admin_email, company.admin_password)
    phone = signin(company.admin_email, company.admin_password)
    tablet = signin(company.admin_email, company.admin_password)
    ids = [int(i) for i in re.findall(r'data-session-id="(\d+)"', laptop.http.get("/me").text)]
    assert len(ids) == 3
    with runtime.db.reading() as session:
        phone_id = session.scalar(
            select(PanelSession.id).where(
                PanelSession.token_hash
                == hashlib.sha256(phone.http.cookies[COOKIE].encode()).hexdigest()
            )
        )
    assert phone_id in ids
    stranger = signin(other_company.admin_email, other_company.admin_password)
    assert stranger.post(f"/me/sessions/{phone_id}/end").status_code == 404  # type: ignore[attr-defined]
    assert signed_in(phone.http)

    ended = laptop.post(f"/me/sessions/{phone_id}/end")  # type: ignore[attr-defined]
    assert ended.headers["location"] == "/me?done=ended"
    assert not signed_in(phone.http) and signed_in(tablet.http) and signed_in(laptop.http)

    everywhere = laptop.post("/me/sign-out-everywhere")  # type: ignore[attr-defined]
    assert everywhere.headers["location"] == "/login"
    assert not signed_in(laptop.http) and not signed_in(tablet.http)
    assert session_count(runtime, company.admin_id) == 0
    assert signed_in(stranger.http)


def test_sessions_are_listed_with_a_readable_device() -> None:
    assert device_label(CHROME) == "Chrome · Linux"
    assert device_label("testclient") == "testclient"
    assert device_label("") == ""


# --- the migration -------------------------------------------------------------------------------


def test_the_migrations_have_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()
