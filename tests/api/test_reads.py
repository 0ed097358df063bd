"""The read-only endpoints over demo data."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture

from atendo.demo import fill_demo
from atendo.runtime import Runtime


def test_reads_over_demo_data(api: TestClient, runtime: Runtime, company: CompanyFixture) -> None:
    with runtime.db.transaction() as session:
        fill_demo(session, box=runtime.box, company_id=company.id)
    clients = api.get("/v1/clients").json()
    assert clients["meta"]["total"] == 5
    first = clients["data"][0]
    assert first["email"] and first["channels"][0]["transports"] == ["email"]
    assert (
        api.get("/v1/clients", params={"email": first["email"].upper()}).json()["meta"]["total"]
        == 1
    )
    dialogs = api.get("/v1/dialogs", params={"state": "open"}).json()
    assert dialogs["meta"]["total"] == 4
    assert all(d["last_message"] for d in dialogs["data"])
    closed = api.get("/v1/dialogs", params={"state": "closed"}).json()
    assert closed["meta"]["total"] == 1
    d = dialogs["data"][0]
    msgs = api.get("/v1/messages", params={"dialog_id": d["id"], "order": "asc"}).json()
    assert msgs["meta"]["total"] >= 1
    ids = [m["id"] for m in msgs["data"]]
    assert ids == sorted(ids)
    inbound = api.get("/v1/messages", params={"type": "from_client", "limit": 200}).json()
    assert all(m["type"] == "from_client" for m in inbound["data"])
    assert api.get(f"/v1/clients/{first['id']}/dialogs").json()["meta"]["total"] >= 1
    assert api.get(f"/v1/clients/{first['id']}/transport").json()["data"][0]["transport"] == (
        "email"
    )
    assert api.get(f"/v1/clients/{first['id']}/last_question").json()["status"] == "success"
    assert api.get("/v1/dialogs/unanswered").json()["status"] == "success"
    tags = api.get("/v1/tags").json()
    assert tags["meta"]["total"] == 4 and tags["data"][0]["group_name"] == "Assunto"
    tpl = api.get("/v1/templates").json()["data"][0]
    assert api.get(f"/v1/templates/{tpl['id']}").json()["data"]["command"] == tpl["command"]
    ops = api.get("/v1/operators").json()
    assert ops["meta"]["total"] == 2
    assert api.get("/v1/operators/statuses").json()["meta"]["total"] == 2
    assert api.get("/v1/operators_groups").json()["status"] == "success"
