"""The team through the API: operator status, limits and "new chats unavailable";
operators_groups with rules and members (create, change, read); a channel's default group;
transfers with a comment and force_assign; a dialog's timeline; operator_events."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.conftest import PanelClient, panel_app, signin  # noqa: F401 (fixtures)

from atendo.core.team.routing import route_queue
from atendo.core.team.statuses import create_status
from atendo.runtime import Runtime


def data(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def refused(r: Any, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "error" and field in (body.get("errors") or {}), body


def _operator(api: TestClient, name: str) -> int:
    op = data(
        api.post("/v1/operators", json={"email": f"{name}@team-api.example", "first_name": name}),
        201,
    )
    return int(op["id"])


def test_operators_take_status_limits_and_new_chats_unavailable(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    ana = _operator(api, "ana")
    changed = data(
        api.put(
            f"/v1/operators/{ana}",
            json={"status": "working", "max_open_dialogs": 3, "new_chats_unavailable": True},
        )
    )
    assert {k: changed[k] for k in ("status", "online", "max_open_dialogs",
                                     "new_chats_unavailable")} == {
        "status": "working", "online": 1, "max_open_dialogs": 3, "new_chats_unavailable": True,
    }  # fmt: skip
    listed = data(api.get("/v1/operators", params={"online": "true"}))
    assert [o["id"] for o in listed] == [ana]
    back = data(api.put(f"/v1/operators/{ana}", json={"status": "break", "max_open_dialogs": None}))
    assert (back["status"], back["online"], back["max_open_dialogs"]) == ("break", 0, None)
    # Chat2Desk's own switch still works: online=1 is the working status.
    assert data(api.put(f"/v1/operators/{ana}", data={"online": "1"}))["status"] == "working"
    refused(api.put(f"/v1/operators/{ana}", json={"status": "sleeping"}), 422, "status")
    with runtime.db.transaction() as session:
        create_status(session, company_id=company.id, name="Plantão", working=True)
    duty = data(api.put(f"/v1/operators/{ana}", json={"status": "plantao"}))
    assert (duty["status"], duty["online"]) == ("plantao", 1)
    refused(api.put(f"/v1/operators/{ana}", json={"max_open_dialogs": -2}), 422, "max_open_dialogs")


def test_groups_are_created_changed_and_read_with_rules_and_skills(
    api: TestClient, company: CompanyFixture
) -> None:
    ana, bia = _operator(api, "ana2"), _operator(api, "bia2")
    made = data(
        api.post(
            "/v1/operators_groups",
            json={"name": "Vendas", "rule": "most_skilled",
                  "members": [{"operator_id": ana, "skill": 90}, {"operator_id": bia}]},
        ),
        201,
    )  # fmt: skip
    assert (made["rule"], made["members"]) == (
        "most_skilled",
        [{"operator_id": ana, "skill": 90}, {"operator_id": bia, "skill": 50}],
    )
    changed = data(
        api.put(
            f"/v1/operators_groups/{made['id']}",
            json={"rule": "probability", "members": [{"operator_id": bia, "skill": 70}]},
        )
    )
    assert (changed["name"], changed["rule"], changed["members"], changed["operators"]) == (
        "Vendas", "probability", [{"operator_id": bia, "skill": 70}], [{"id": bia, "skill": 70}]
    )  # fmt: skip
    assert [g["rule"] for g in data(api.get("/v1/operators_groups"))] == ["probability"]
    refused(api.post("/v1/operators_groups", json={"name": "X", "rule": "random"}), 422, "rule")
    refused(api.post("/v1/operators_groups", json={"rule": "least_busy"}), 422, "name")
    refused(
        api.put(f"/v1/operators_groups/{made['id']}", json={"members": [{"operator_id": bia,
                                                                         "skill": 101}]}),
        422,
        "members",
    )  # fmt: skip
    assert api.put("/v1/operators_groups/999999", json={"name": "x"}).status_code == 404


def test_channel_default_group_routes_its_new_chats(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    ana, bia = _operator(api, "ana3"), _operator(api, "bia3")
    for op in (ana, bia):
        data(api.put(f"/v1/operators/{op}", json={"status": "working"}))
    group = data(
        api.post("/v1/operators_groups", json={"name": "N1", "members": [{"operator_id": bia}]}),
        201,
    )
    channel = external_channel(runtime, company.id)
    assert (
        data(api.put(f"/v1/channels/{channel}", json={"group_id": group["id"]}))["group_id"]
        == group["id"]
    )
    refused(api.put(f"/v1/channels/{channel}", json={"group_id": "x"}), 422, "group_id")
    assert api.put(f"/v1/channels/{channel}", json={"group_id": 999999}).status_code == 404
    dialog_id = client_message(runtime, company.id, channel).dialog_id
    with runtime.db.transaction() as session:
        assert route_queue(session, company_id=company.id) == [(dialog_id, bia)]
    assert data(api.put(f"/v1/channels/{channel}", json={"group_id": None}))["group_id"] is None


def test_transfer_with_comment_and_force_assign_and_the_dialog_timeline(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    ana = _operator(api, "ana4")
    channel = external_channel(runtime, company.id)
    arrived = client_message(runtime, company.id, channel)
    transfer = f"/v1/messages/{arrived.message_id}/transfer"
    refused(api.get(transfer, params={"operator_id": ana}), 409, "operator_id")  # offline
    moved = data(
        api.get(transfer, params={"operator_id": ana, "force_assign": "true",
                                  "comment": "Pedido 123: troca"})
    )  # fmt: skip
    assert moved["operator_id"] == ana
    data(api.put(f"/v1/operators/{ana}", json={"status": "working", "max_open_dialogs": 1}))
    other = client_message(runtime, company.id, channel)
    refused(
        api.get(f"/v1/messages/{other.message_id}/transfer", params={"operator_id": ana}),
        409,
        "operator_id",
    )  # at the limit
    group = data(
        api.post("/v1/operators_groups", json={"name": "G", "members": [{"operator_id": ana}]}),
        201,
    )
    forced = data(
        api.get(
            f"/v1/messages/{other.message_id}/transfer_to_group",
            params={"group_id": group["id"], "force_assign": "1", "comment": "urgente"},
        )
    )
    assert (forced["operator_id"], forced["group_id"]) == (ana, group["id"])
    dialog = data(api.get(f"/v1/dialogs/{arrived.dialog_id}"))
    assert [(e["kind"], e["details"].get("comment"), e["actor"]) for e in dialog["events"]] == [
        ("assigned", "Pedido 123: troca", "api")
    ]
    timeline = data(api.get(f"/v1/dialogs/{other.dialog_id}"))["events"]
    assert [(e["kind"], e["details"]["comment"], e["details"]["routed"]) for e in timeline] == [
        ("transferred", "urgente", False),
        ("assigned", "", True),
    ]


def test_operator_events_report_time_per_status(api: TestClient, company: CompanyFixture) -> None:
    ana = _operator(api, "ana5")
    data(api.put(f"/v1/operators/{ana}", json={"status": "working"}))
    data(api.put(f"/v1/operators/{ana}", json={"status": "busy"}))
    rows = data(api.get("/v1/statistics", params={"report": "operator_events"}))
    assert sorted((r["operator_id"], r["status"]) for r in rows) == [
        (ana, "busy"),
        (ana, "working"),
    ]
    assert all(r["seconds"] >= 0 for r in rows)
    refused(api.get("/v1/statistics", params={"report": "nope"}), 422, "report")


def test_an_operators_panel_language_is_set_through_the_api(
    api: TestClient,
    company: CompanyFixture,
    signin: Any,  # noqa: F811
) -> None:
    """``language`` [ext] on PUT /v1/operators/{id} switches the operator's panel (before, the
    API took no such field and answered 200 leaving it as it was); one the panel has not is
    a 422 naming the field."""
    panel: PanelClient = signin(company.admin_email, company.admin_password)
    assert '<html lang="pt-BR"' in panel.http.get("/chats").text
    changed = data(api.put(f"/v1/operators/{company.admin_id}", json={"language": "en"}))
    assert changed["language"] == "en"
    assert '<html lang="en"' in panel.http.get("/chats").text
    refused(api.put(f"/v1/operators/{company.admin_id}", json={"language": "fr"}), 422, "language")
    assert data(api.get(f"/v1/operators/{company.admin_id}"))["language"] == "en"
    assert (
        data(api.put(f"/v1/operators/{company.admin_id}", json={"first_name": "Ana"}))["language"]
        == "en"
    )  # left alone when not given
