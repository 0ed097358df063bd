"""The team in the panel without a browser: errors as sentences (never the API's JSON), the
presence heartbeat, the remembered filter and the views' counts, per-operator unread in the
list, the sent-meanwhile warning, the status chooser, Settings › Routing and team, the audit
log for admins only."""

from __future__ import annotations

import re
from collections.abc import Callable

from atendo.core.companies.models import Company
from atendo.core.dialogs.service import get_dialog
from atendo.core.operators.models import Operator, OperatorGroup
from atendo.core.operators.service import create_group, create_operator
from atendo.core.team.routing import transfer_dialog
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel, queued_reply
from tests.panel.conftest import PanelClient

Signin = Callable[[str, str], PanelClient]
PASSWORD = "uma senha longa"


def _operator(runtime: Runtime, company_id: int, name: str) -> tuple[int, str]:
    email = f"{name}-{company_id}@team-panel.example"
    with runtime.db.transaction() as session:
        op = create_operator(
            session, company_id=company_id, email=email, password=PASSWORD, first_name=name
        )
        return op.id, email


def test_a_chat_the_operator_may_not_see_answers_a_sentence_not_json(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    bruno, email = _operator(runtime, company.id, "Bruno")
    carla, _e = _operator(runtime, company.id, "Carla")
    channel = external_channel(runtime, company.id)
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    with runtime.db.transaction() as session:
        transfer_dialog(session, company_id=company.id, dialog_id=dialog_id, operator_id=carla)
    b = signin(email, PASSWORD)
    page = b.http.get(f"/chats/{dialog_id}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "não existe ou não está disponível para você" in page.text
    fragment = b.http.get(f"/chats/{dialog_id}/messages", headers={"HX-Request": "true"})
    assert (fragment.status_code, fragment.headers["hx-retarget"]) == (404, "#pane-notice")
    assert "Esta conversa não está mais disponível para você" in fragment.text
    sent = b.post(f"/chats/{dialog_id}/send", {"text": "oi"}, headers={"HX-Request": "true"})
    assert sent.status_code == 404  # type: ignore[attr-defined]
    assert "Esta conversa não está mais disponível para você" in sent.text  # type: ignore[attr-defined]
    unknown = b.http.get("/no/such/page")
    assert unknown.status_code == 404 and '{"status"' not in unknown.text
    assert "não existe ou não está disponível para você" in unknown.text
    # The API keeps its envelope.
    api = b.http.get("/v1/dialogs/999999", headers={"Authorization": company.token})
    assert (
        api.json() == {"status": "error", "message": "Page not found"}
        or api.json()["message"] == "Page not found"
    )
    assert bruno


def test_presence_heartbeat_shows_who_else_is_on_the_chat(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    bruno, email = _operator(runtime, company.id, "Bruno")
    channel = external_channel(runtime, company.id)
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    admin = signin(company.admin_email, company.admin_password)
    b = signin(email, PASSWORD)
    assert b.post(f"/chats/{dialog_id}/presence", {"state": "viewing"}).text == ""  # type: ignore[attr-defined]
    seen = admin.post(f"/chats/{dialog_id}/presence", {"state": "typing"})
    assert "Bruno está vendo" in seen.text  # type: ignore[attr-defined]
    assert "está digitando" in b.post(f"/chats/{dialog_id}/presence", {}).text  # type: ignore[attr-defined]
    admin.post(f"/chats/{dialog_id}/presence", {"state": "left"})
    assert b.post(f"/chats/{dialog_id}/presence", {}).text == ""  # type: ignore[attr-defined]
    assert bruno


def test_views_count_and_remember_the_filter_and_unread_is_per_operator(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    bruno, email = _operator(runtime, company.id, "Bruno")
    channel = external_channel(runtime, company.id)
    mine = client_message(runtime, company.id, channel, text="para o Bruno")
    queued = client_message(runtime, company.id, channel, text="na fila").dialog_id
    with runtime.db.transaction() as session:
        transfer_dialog(session, company_id=company.id, dialog_id=mine.dialog_id, operator_id=bruno)
    client_message(runtime, company.id, channel, client_id=mine.client_id, text="de novo")
    admin = signin(company.admin_email, company.admin_password)
    assert admin.http.get(f"/chats/{mine.dialog_id}").status_code == 200  # a supervisor looks
    with runtime.db.reading() as session:
        assert get_dialog(session, company_id=company.id, dialog_id=mine.dialog_id).unread == 2
    b = signin(email, PASSWORD)
    listed = b.http.get(
        "/chats/list",
        params={"who": "queue", "state": "open"},
        headers={"HX-Request": "true", "HX-Trigger": "filters"},
    )
    assert f'data-dialog-id="{queued}"' in listed.text
    assert f'data-dialog-id="{mine.dialog_id}"' not in listed.text
    assert 'data-testid="count-queue">1<' in listed.text
    assert 'data-testid="count-mine">1<' in listed.text
    page = b.http.get("/chats")  # the last filter, remembered
    assert 'value="queue" checked' in page.text
    everything = b.http.get("/chats/list", params={"who": "all", "state": "open"})
    row = everything.text.split(f'data-dialog-id="{mine.dialog_id}"', 1)[1].split("</a>", 1)[0]
    assert 'data-testid="unread-count">2<' in row
    assert everything.text.index(f'data-dialog-id="{mine.dialog_id}"') < everything.text.index(
        f'data-dialog-id="{queued}"'
    )  # their own chats first


def test_a_reply_after_someone_else_answered_asks_first(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    bruno, _email = _operator(runtime, company.id, "Bruno")
    channel = external_channel(runtime, company.id)
    arrived = client_message(runtime, company.id, channel)
    admin = signin(company.admin_email, company.admin_password)
    queued_reply(runtime, company.id, arrived.dialog_id, text="Bruno respondeu", operator_id=bruno)
    seen = str(arrived.message_id)
    warned = admin.post(f"/chats/{arrived.dialog_id}/send", {"text": "eu também", "seen": seen})
    assert warned.status_code == 409  # type: ignore[attr-defined]
    assert "Bruno respondeu a este cliente enquanto isso" in warned.text  # type: ignore[attr-defined]
    sent = admin.post(
        f"/chats/{arrived.dialog_id}/send", {"text": "eu também", "seen": seen, "anyway": "1"}
    )
    assert sent.status_code == 200 and "eu também" in sent.text  # type: ignore[attr-defined]


def test_status_chooser_team_settings_and_the_audit_log(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    bruno, email = _operator(runtime, company.id, "Bruno")
    channel = external_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        group_id = create_group(session, company_id=company.id, name="Vendas").id
    admin = signin(company.admin_email, company.admin_password)
    b = signin(email, PASSWORD)
    assert (
        b.post("/me/status", {"status": "break"}, headers={"HX-Request": "true"}).status_code == 204
    )  # type: ignore[attr-defined]
    assert b.post("/me/status", {"status": "nap"}).status_code == 422  # type: ignore[attr-defined]
    assert b.http.get("/settings/team").status_code == 403
    assert b.http.get("/settings/audit").status_code == 403
    assert (
        admin.post(
            "/settings/team/company", {"inactivity_minutes": "15", "requeue_on_offline": "1"}
        ).status_code
        == 303
    )  # type: ignore[attr-defined]
    bad = admin.post("/settings/team/company", {"inactivity_minutes": "-3"})
    assert bad.status_code == 422 and "entre 0 e 1440" not in bad.text  # type: ignore[attr-defined]
    assert "0 a 1440 minutos" in bad.text  # type: ignore[attr-defined]
    assert (
        admin.post(
            f"/settings/team/groups/{group_id}",
            {"rule": "probability", f"member_{bruno}": "1", f"skill_{bruno}": "70"},
        ).status_code
        == 303
    )  # type: ignore[attr-defined]
    assert (
        admin.post(f"/settings/team/channels/{channel}", {"group_id": str(group_id)}).status_code
        == 303
    )  # type: ignore[attr-defined]
    assert (
        admin.post(
            f"/settings/team/operators/{bruno}",
            {"max_open_dialogs": "4", "new_chats_unavailable": "1"},
        ).status_code
        == 303
    )  # type: ignore[attr-defined]
    with runtime.db.reading() as session:
        op = session.get(Operator, bruno)
        company_row = session.get(Company, company.id)
        group = session.get(OperatorGroup, group_id)
        assert op is not None and company_row is not None and group is not None
        assert (op.status, op.online, op.max_open_dialogs, op.new_chats_unavailable) == (
            "break",
            False,
            4,
            True,
        )
        assert (company_row.inactivity_minutes, company_row.requeue_on_offline) == (15, True)
        assert group.rule == "probability"
    assert admin.post("/settings/team/statuses", {"name": "Reunião"}).status_code == 303  # type: ignore[attr-defined]
    assert admin.post("/settings/team/statuses", {"name": "Reunião"}).status_code == 409  # type: ignore[attr-defined]
    assert 'value="reuniao"' in b.http.get("/chats").text  # the chooser offers it
    assert b.post("/me/status", {"status": "reuniao"}).status_code == 303  # type: ignore[attr-defined]
    assert admin.post("/settings/team/statuses/reuniao/delete").status_code == 303  # type: ignore[attr-defined]
    assert 'value="reuniao"' not in b.http.get("/chats").text
    log = admin.http.get("/settings/audit")
    assert log.status_code == 200 and f"panel POST /settings/team/operators/{bruno}" in log.text


def test_sort_by_the_client_waiting_longest(
    runtime: Runtime, company: CompanyFixture, signin: Signin
) -> None:
    channel = external_channel(runtime, company.id)
    answered = client_message(runtime, company.id, channel, text="primeiro").dialog_id
    oldest = client_message(runtime, company.id, channel, text="segundo").dialog_id
    newest = client_message(runtime, company.id, channel, text="terceiro").dialog_id
    queued_reply(runtime, company.id, answered, text="respondido", operator_id=company.admin_id)
    admin = signin(company.admin_email, company.admin_password)

    def order(**params: str) -> list[int]:
        page = admin.http.get("/chats/list", params={"who": "all", "state": "open", **params})
        found = [int(x) for x in re.findall(r'data-dialog-id="(\d+)"', page.text)]
        return [d for d in found if d in (answered, oldest, newest)]

    assert order() == [answered, newest, oldest]  # the admin's own chat first, then newest
    assert order(sort="waiting", who="unassigned") == [oldest, newest]
    assert order(sort="waiting") == [answered, oldest, newest]
