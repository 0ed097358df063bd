"""The write endpoints and the smaller read endpoints of issue 5, through HTTP.

Data comes in the way a real integration brings it: an external channel, client messages
injected with POST /v1/messages/inbox.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture

from atendo.runtime import Runtime
from atendo.transports.external import create_external_channel


def external_channel(runtime: Runtime, company_id: int, name: str = "Bot") -> int:
    with runtime.db.transaction() as session:
        return create_external_channel(
            session, company_id=company_id, name=name, box=runtime.box
        ).id


def inbox(
    client: TestClient, headers: dict[str, str], channel_id: int, **sender: Any
) -> dict[str, Any]:
    r = client.post(
        "/v1/messages/inbox",
        headers=headers,
        json={"channel_id": channel_id, "body": "hello", "from_client": sender},
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_inbox_injects_client_messages(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    first = inbox(app_client, h, ch, phone="+5511999990000", nickname="Ana")
    assert first["type"] == "from_client" and first["transport"] == "external"
    again = inbox(app_client, h, ch, id=first["client_id"])
    assert again["dialog_id"] == first["dialog_id"] and again["request_id"] == first["request_id"]
    client = app_client.get(f"/v1/clients/{first['client_id']}", headers=h).json()["data"]
    assert client["phone"] == "+5511999990000" and client["name"] == "Ana"
    # exactly one of id or phone
    for sender in ({}, {"id": first["client_id"], "phone": "+1"}):
        r = app_client.post(
            "/v1/messages/inbox",
            headers=h,
            json={"channel_id": ch, "body": "x", "from_client": sender},
        )
        assert r.status_code == 422, sender
    assert app_client.post("/v1/messages/inbox", headers=h, json={"body": "x"}).status_code == 422
    r = app_client.post(
        "/v1/messages/inbox",
        headers=h,
        json={"channel_id": ch + 10_000, "body": "x", "from_client": {"phone": "1"}},
    )
    assert r.status_code == 404


def test_clients_create_update_and_custom_fields(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    form = {"phone": "+551130000000", "transport": "external", "channel_id": ch, "nickname": "Bia"}
    r = app_client.post("/v1/clients", headers=h, data=form)  # a form body, as PHP clients send
    assert r.status_code == 200, r.text
    made = r.json()["data"]
    assert made["phone"] == "+551130000000" and made["created_now"] is True
    same = app_client.post("/v1/clients", headers=h, params=form).json()["data"]
    assert same["id"] == made["id"] and same["created_now"] is False
    by_mail = app_client.post(
        "/v1/clients", headers=h, json={"email": "Joe@Example.com", "transport": "email"}
    ).json()["data"]
    assert by_mail["email"] == "joe@example.com"
    assert app_client.post("/v1/clients", headers=h, json={"nickname": "x"}).status_code == 422
    assert (
        app_client.post("/v1/clients", headers=h, json={"phone": "1", "channel_id": 0}).status_code
        == 404
    )
    r = app_client.put(
        f"/v1/clients/{made['id']}",
        headers=h,
        json={"nickname": "Beatriz", "comment": "vip", "custom_fields": {"plan": "gold"}},
    )
    assert r.status_code == 200
    assert r.json()["data"]["assigned_name"] == "Beatriz"
    assert r.json()["data"]["custom_fields"] == {"plan": "gold"}
    assert app_client.put("/v1/clients/0", headers=h, json={"comment": "x"}).status_code == 404
    fields = app_client.get("/v1/custom_client_fields", headers=h).json()
    assert [f["name"] for f in fields["data"]] == ["plan"]


def test_operators_create_and_update(app_client: TestClient, company: CompanyFixture) -> None:
    h = company.headers
    email = f"op-{company.id}@acme.example"
    r = app_client.post(
        "/v1/operators",
        headers=h,
        json={"email": email, "first_name": "Op", "role": "supervisor", "password": "12345678x"},
    )
    assert r.status_code == 201, r.text
    op = r.json()["data"]
    assert op["role"] == "supervisor" and op["email"] == email
    assert app_client.post("/v1/operators", headers=h, json={"email": email}).status_code == 409
    assert app_client.post("/v1/operators", headers=h, json={}).status_code == 422
    bad_role = {"email": "z" + email, "role": "boss"}
    assert app_client.post("/v1/operators", headers=h, json=bad_role).status_code == 422
    r = app_client.put(
        f"/v1/operators/{op['id']}", headers=h, data={"online": "True", "last_name": "Two"}
    )
    assert r.status_code == 200
    assert r.json()["data"]["online"] == 1 and r.json()["data"]["last_name"] == "Two"
    r = app_client.put(f"/v1/operators/statuses/{op['id']}", headers=h, params={"online": "0"})
    assert r.json()["data"]["online"] == 0
    assert app_client.put("/v1/operators/0", headers=h, json={"online": 1}).status_code == 404


def test_tags_groups_assign_and_delete_from(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    msg = inbox(app_client, h, ch, phone="+100")
    r = app_client.post("/v1/tag_groups", headers=h, json={"tag_group_name": "Sales"})
    assert r.status_code == 201
    group = r.json()["data"]
    assert app_client.post("/v1/tag_groups", headers=h, json={}).status_code == 422
    r = app_client.post(
        "/v1/tags", headers=h, data={"tag_group_id": group["id"], "tag_label": "hot"}
    )
    assert r.status_code == 201
    tag = r.json()["data"]
    assert tag["group_name"] == "Sales"
    tag2 = app_client.post("/v1/tags", headers=h, json={"tag_label": "cold"}).json()["data"]
    assert app_client.post("/v1/tags", headers=h, json={"tag_label": ""}).status_code == 422
    # tag_ids[] as a form, repeated keys in the query, a JSON array
    r = app_client.post(
        "/v1/tags/assign_to",
        headers=h,
        data={
            "tag_ids[]": [str(tag["id"]), str(tag2["id"])],
            "assignee_type": "client",
            "assignee_id": str(msg["client_id"]),
        },
    )
    assert r.json()["data"]["added"] == 2, r.text
    r = app_client.post(
        "/v1/tags/assign_to",
        headers=h,
        json={"tag_ids": [tag["id"]], "assignee_type": "request", "assignee_id": msg["request_id"]},
    )
    assert r.json()["data"]["added"] == 1
    client = app_client.get(f"/v1/clients/{msg['client_id']}", headers=h).json()["data"]
    assert {t["label"] for t in client["tags"]} == {"hot", "cold"}
    bad = {"tag_ids": [tag["id"]], "assignee_type": "dialog", "assignee_id": 1}
    assert app_client.post("/v1/tags/assign_to", headers=h, json=bad).status_code == 422
    assert app_client.post("/v1/tags/assign_to", headers=h, json={}).status_code == 422
    r = app_client.delete(
        f"/v1/tags/{tag['id']}/delete_from", headers=h, params={"client_id": msg["client_id"]}
    )
    assert r.json()["data"]["deleted"] == 1
    r = app_client.delete(
        f"/v1/tags/{tag['id']}/delete_from", headers=h, params={"request_id": msg["request_id"]}
    )
    assert r.json()["data"]["deleted"] == 1
    assert app_client.delete(f"/v1/tags/{tag['id']}/delete_from", headers=h).status_code == 422


def test_requests_read_and_close(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    msg = inbox(app_client, h, ch, phone="+200")
    rid = msg["request_id"]
    r = app_client.get(f"/v1/requests/{rid}", headers=h)
    assert r.json()["data"]["state"] == "open" and r.json()["data"]["channel_id"] == ch
    msgs = app_client.get(f"/v1/requests/{rid}/messages", headers=h).json()
    assert [m["id"] for m in msgs["data"]] == [msg["id"]]
    assert app_client.put("/v1/requests/close", headers=h, json={}).status_code == 422
    r = app_client.put("/v1/requests/close", headers=h, json={"request_id": rid})
    assert r.json()["data"]["closed"] == [rid]
    assert app_client.get(f"/v1/requests/{rid}", headers=h).json()["data"]["state"] == "closed"
    dialog = app_client.get(f"/v1/dialogs/{msg['dialog_id']}", headers=h).json()["data"]
    assert dialog["state"] == "closed"
    # by client: a new message opens a new request, closed by client_id
    again = inbox(app_client, h, ch, id=msg["client_id"])
    assert again["request_id"] != rid
    r = app_client.put("/v1/requests/close", headers=h, params={"client_id": msg["client_id"]})
    assert r.json()["data"]["closed"] == [again["request_id"]]
    assert app_client.get("/v1/requests/0", headers=h).status_code == 404
    assert app_client.get("/v1/requests/0/messages", headers=h).status_code == 404


def test_message_read_unread_and_transfers(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    msg = inbox(app_client, h, ch, phone="+300")
    mid = msg["id"]
    assert app_client.get(f"/v1/messages/{mid}/read", headers=h).json()["data"]["read"] == 1
    assert app_client.get(f"/v1/messages/{mid}/unread", headers=h).json()["data"]["read"] == 0
    r = app_client.get(
        f"/v1/messages/{mid}/transfer",
        headers=h,
        params={"operator_id": company.admin_id, "force_assign": "True"},
    )
    assert r.status_code == 200 and r.json()["data"]["operator_id"] == company.admin_id
    assert app_client.get(f"/v1/messages/{mid}/transfer", headers=h).status_code == 422
    r = app_client.get(f"/v1/messages/{mid}/transfer", headers=h, params={"operator_id": 0})
    assert r.status_code == 404
    assert app_client.get(f"/v1/messages/{mid}/transfer_to_group", headers=h).status_code == 422
    r = app_client.get(f"/v1/messages/{mid}/transfer_to_group", headers=h, params={"group_id": 0})
    assert r.status_code == 404
    assert app_client.get("/v1/messages/0/read", headers=h).status_code == 404


def test_statistics_and_empty_endpoints(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    h = company.headers
    ch = external_channel(runtime, company.id)
    inbox(app_client, h, ch, phone="+400")
    inbox(app_client, h, ch, phone="+401")
    r = app_client.get("/v1/statistics", headers=h, params={"report": "messages"})
    assert r.json()["data"] == [{"type": "from_client", "count": 2}]
    r = app_client.get("/v1/statistics", headers=h)
    assert r.json()["data"][0]["opened"] == 2
    assert (
        app_client.get("/v1/statistics", headers=h, params={"report": "ratings"}).json()["data"]
        == []
    )
    assert (
        app_client.get("/v1/statistics", headers=h, params={"report": "response_time"}).status_code
        == 200
    )
    assert app_client.get("/v1/statistics", headers=h, params={"report": "x"}).status_code == 422
    assert app_client.get("/v1/statistics", headers=h, params={"date": "soon"}).status_code == 422
    old = app_client.get(
        "/v1/statistics", headers=h, params={"report": "messages", "date": "2001-01-01"}
    )
    assert old.json()["data"] == []
    for path in ("/v1/web_analytics_data",):
        r = app_client.get(path, headers=h)
        assert r.status_code == 200 and r.json()["data"] == [] and r.json()["meta"]["total"] == 0
    assert app_client.post("/v1/scenarios/send_menu_item", headers=h).status_code == 422
    r = app_client.post(
        "/v1/scenarios/send_menu_item", headers=h, json={"menu_item_id": 10**6, "client_id": 1}
    )
    assert r.status_code == 404
    for body in ({}, {"image_path": "https://example.com/qr.png"}):
        r = app_client.post("/v1/qr-decode", headers=h, json=body)
        assert r.status_code == 422 and r.json()["status"] == "error"


def test_regenerate_token_stops_the_old_one_at_once(
    app_client: TestClient, company: CompanyFixture
) -> None:
    r = app_client.post("/v1/companies/regenerate_token", headers=company.headers)
    assert r.status_code == 200
    new = r.json()["data"]["token"]
    assert app_client.get("/v1/companies/api_info", headers=company.headers).status_code == 401
    ok = app_client.get("/v1/companies/api_info", headers={"Authorization": f"Bearer {new}"})
    assert ok.status_code == 200


@pytest.mark.parametrize("booleans", ["true", "True", "1"])
def test_booleans_in_every_spelling(
    app_client: TestClient, company: CompanyFixture, booleans: str
) -> None:
    r = app_client.put(
        f"/v1/operators/{company.admin_id}", headers=company.headers, data={"online": booleans}
    )
    assert r.json()["data"]["online"] == 1


def test_tenant_isolation_of_every_id_route(
    app_client: TestClient,
    runtime: Runtime,
    company: CompanyFixture,
    other_company: CompanyFixture,
) -> None:
    """Every GET/PUT/DELETE by id of issue 5 answers 404 to another company's token."""
    theirs = other_company.headers
    mine = company.headers
    ch = external_channel(runtime, other_company.id)
    msg = inbox(app_client, theirs, ch, phone="+500")
    tag = app_client.post("/v1/tags", headers=theirs, json={"tag_label": "t"}).json()["data"]
    hook_id = _their_webhook(app_client, runtime, theirs)
    op = msg["client_id"]
    checks = [
        ("PUT", f"/v1/clients/{msg['client_id']}", {"comment": "x"}),
        ("PUT", f"/v1/operators/{other_company.admin_id}", {"online": 1}),
        ("GET", f"/v1/requests/{msg['request_id']}", {}),
        ("GET", f"/v1/requests/{msg['request_id']}/messages", {}),
        ("PUT", "/v1/requests/close", {"request_id": msg["request_id"]}),
        ("DELETE", f"/v1/tags/{tag['id']}/delete_from", {"client_id": op}),
        ("GET", f"/v1/messages/{msg['id']}/read", {}),
        ("GET", f"/v1/messages/{msg['id']}/unread", {}),
        ("GET", f"/v1/messages/{msg['id']}/transfer", {"operator_id": company.admin_id}),
        ("GET", f"/v1/messages/{msg['id']}/transfer_to_group", {"group_id": 1}),
        ("GET", f"/v1/webhooks/{hook_id}", {}),
        ("PUT", f"/v1/webhooks/{hook_id}", {"name": "x"}),
        ("DELETE", f"/v1/webhooks/{hook_id}", {}),
        (
            "POST",
            "/v1/messages/inbox",
            {"channel_id": ch, "body": "x", "from_client": {"phone": "1"}},
        ),
    ]
    for method, path, params in checks:
        if method == "POST":
            r = app_client.request(method, path, headers=mine, json=params)
        else:
            r = app_client.request(method, path, headers=mine, params=params)
        assert r.status_code == 404, (method, path, r.text)
    # and nothing changed for the owner
    assert (
        app_client.get(f"/v1/webhooks/{hook_id}", headers=theirs).json()["data"]["name"] == "theirs"
    )
    assert (
        app_client.get(f"/v1/requests/{msg['request_id']}", headers=theirs).json()["data"]["state"]
        == "open"
    )


def _their_webhook(app_client: TestClient, runtime: Runtime, headers: dict[str, str]) -> int:
    allow = runtime.settings.webhooks_allow_private_networks
    runtime.settings.webhooks_allow_private_networks = True
    try:
        r = app_client.post(
            "/v1/webhooks",
            headers=headers,
            json={"url": "http://127.0.0.1:10009/h", "name": "theirs"},
        )
    finally:
        runtime.settings.webhooks_allow_private_networks = allow
    assert r.status_code == 201, r.text
    hook_id: int = r.json()["data"]["id"]
    return hook_id


def test_post_channels_creates_an_external_channel(api: TestClient) -> None:
    r = api.post("/v1/channels", json={"transport": "external", "name": "Loja virtual"})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["transports"] == ["external"] and data["name"] == "Loja virtual"
    listed = api.get("/v1/channels").json()["data"]
    assert any(c["id"] == data["id"] for c in listed)
