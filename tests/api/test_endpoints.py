"""Each API endpoint's success and its main errors, through HTTP.

Most endpoints are also exercised by the richer scenario tests beside this file; this module
gives every one of them at least a success and a client error, and proves that none answers
without a valid token. ``tests/endpoint_coverage.py`` checks at the end of a whole-suite run
that no endpoint was left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture
from tests.endpoint_coverage import expected_endpoints
from tests.kit.test_guarded_fetch import PDF, FileServer
from tests.transports.email.test_ingest import email_channel, ingest

from atendo.core.operators.service import create_group
from atendo.core.templates.service import create_template
from atendo.runtime import Runtime
from atendo.transports.external import create_external_channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


@dataclass
class World:
    """One company's data, made the way an integration makes it."""

    channel_id: int
    client_id: int
    dialog_id: int
    request_id: int
    message_id: int
    group_id: int
    template_id: int
    operator_id: int


@pytest.fixture
def world(api: TestClient, runtime: Runtime, company: CompanyFixture) -> World:
    with runtime.db.transaction() as session:
        channel = create_external_channel(
            session, company_id=company.id, name="Bot", box=runtime.box
        )
        group_id = create_group(session, company_id=company.id, name="Billing").id
        template_id = create_template(
            session, company_id=company.id, name="Hi", text="Hello!", command="hi"
        ).id
        channel_id = channel.id
    r = api.post(
        "/v1/messages/inbox",
        json={"channel_id": channel_id, "body": "hello", "from_client": {"phone": "+5511900"}},
    )
    assert r.status_code == 201, r.text
    msg = r.json()["data"]
    return World(
        channel_id=channel_id,
        client_id=msg["client_id"],
        dialog_id=msg["dialog_id"],
        request_id=msg["request_id"],
        message_id=msg["id"],
        group_id=group_id,
        template_id=template_id,
        operator_id=company.admin_id,
    )


def data(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def refused(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "error" and body["message"], body
    return body


# --- every endpoint wants a valid token -------------------------------------------------------


def test_every_endpoint_refuses_a_missing_or_wrong_token(app_client: TestClient) -> None:
    endpoints = expected_endpoints()
    assert len(endpoints) > 60
    for method, template in endpoints:
        path = re.sub(r"\{[^/]+\}", "1", template)
        for headers in ({}, {"Authorization": "not-a-token"}):
            r = app_client.request(method, path, headers=headers)
            body = refused(r, 401)
            assert body["message"] == "You need to auth", (method, path)


# --- reference data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("/v1/help/transports", "email"),
        ("/v1/help/message_types", "to_client"),
        ("/v1/help/dialog_states", "closed"),
        ("/v1/help/roles", "supervisor"),
    ],
)
def test_help_lists(api: TestClient, path: str, member: str) -> None:
    assert member in data(api.get(path))


def test_help_api_modes(api: TestClient) -> None:
    modes = data(api.get("/v1/help/api_modes"))
    assert modes and all({"name", "description"} <= set(m) for m in modes)


@pytest.mark.parametrize("path", ["/v1/countries", "/v1/regions"])
def test_reference_lists_page(api: TestClient, path: str) -> None:
    r = api.get(path, params={"limit": 2})
    rows = data(r)
    assert len(rows) <= 2 and r.json()["meta"]["limit"] == 2
    refused(api.get(path, params={"limit": "two"}), 422)


# --- company -----------------------------------------------------------------------------------


def test_switch_mode(api: TestClient) -> None:
    assert data(api.put("/v1/companies/switch_mode", json={"mode": "test"})) == {"mode": "test"}
    assert data(api.get("/v1/companies/api_info"))["mode"] == "test"
    refused(api.put("/v1/companies/switch_mode", json={"mode": "sideways"}), 422)


def test_regenerate_token_refuses_a_bad_body(api: TestClient) -> None:
    refused(
        api.post(
            "/v1/companies/regenerate_token",
            content=b"{oops",
            headers={"Content-Type": "application/json"},
        ),
        422,
    )


def test_legacy_web_hook_read_and_bad_body(api: TestClient) -> None:
    assert "url" in data(api.get("/v1/companies/web_hook"))
    refused(
        api.request(
            "GET",
            "/v1/companies/web_hook",
            content=b"[1,",
            headers={"Content-Type": "application/json"},
        ),
        422,
    )


# --- lists: a bad paging or filter parameter is a 422 with the field named ---------------------


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("/v1/clients", {"limit": "many"}),
        ("/v1/channels", {"offset": "first"}),
        ("/v1/messages", {"dialog_id": "last"}),
        ("/v1/messages", {"start_date": "yesterday"}),
        ("/v1/dialogs/unanswered", {"operator_id": "me"}),
        ("/v1/operators", {"limit": "all"}),
        ("/v1/operators/statuses", {"limit": "all"}),
        ("/v1/tags", {"offset": "x"}),
        ("/v1/templates", {"limit": "x"}),
        ("/v1/scenarios/menu_items", {"limit": "x"}),
        ("/v1/web_analytics_data", {"client_id": "x"}),
    ],
)
def test_lists_refuse_bad_parameters(api: TestClient, path: str, bad: dict[str, str]) -> None:
    body = refused(api.get(path, params=bad), 422)
    assert set(bad) <= set(body.get("errors", {})), body


def test_lists_answer(api: TestClient, world: World) -> None:
    for path in (
        "/v1/clients",
        "/v1/channels",
        "/v1/dialogs/unanswered",
        "/v1/operators",
        "/v1/operators/statuses",
        "/v1/templates",
        "/v1/custom_client_fields",
        "/v1/operators_groups",
    ):
        assert isinstance(data(api.get(path)), list), path
    unanswered = data(api.get("/v1/dialogs/unanswered"))
    assert [d["id"] for d in unanswered] == [world.dialog_id]
    groups = data(api.get("/v1/operators_groups"))
    assert world.group_id in [g["id"] for g in groups]


# --- clients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sub", ["transport", "dialogs", "last_question"])
def test_client_sub_resources(api: TestClient, world: World, sub: str) -> None:
    got = data(api.get(f"/v1/clients/{world.client_id}/{sub}"))
    assert got is not None
    refused(api.get(f"/v1/clients/{world.client_id + 100_000}/{sub}"), 404)


# --- operators ---------------------------------------------------------------------------------


def test_operator_by_id_and_status(api: TestClient, world: World) -> None:
    for path in ("/v1/operators", "/v1/operators/statuses"):
        one = data(api.get(f"{path}/{world.operator_id}"))
        assert one["id"] == world.operator_id
        refused(api.get(f"{path}/{world.operator_id + 100_000}"), 404)


# --- messages ----------------------------------------------------------------------------------


def test_transfer_to_group(api: TestClient, world: World) -> None:
    moved = data(
        api.get(
            f"/v1/messages/{world.message_id}/transfer_to_group",
            params={"group_id": world.group_id},
        )
    )
    assert moved == {"dialog_id": world.dialog_id, "operator_id": None, "group_id": world.group_id}
    dialog = data(api.get(f"/v1/dialogs/{world.dialog_id}"))
    assert (dialog["group_id"], dialog["operator_id"]) == (world.group_id, None)
    refused(
        api.get(
            f"/v1/messages/{world.message_id}/transfer_to_group",
            params={"group_id": world.group_id + 100_000},
        ),
        404,
    )


def test_transfer_to_another_company_s_operator_or_group_is_refused(
    api: TestClient, world: World, runtime: Runtime, other_company: CompanyFixture
) -> None:
    with runtime.db.transaction() as session:
        their_group = create_group(session, company_id=other_company.id, name="Theirs").id
    transfer = f"/v1/messages/{world.message_id}/transfer"
    refused(api.get(transfer, params={"operator_id": other_company.admin_id}), 404)
    refused(api.get(f"{transfer}_to_group", params={"group_id": their_group}), 404)
    dialog = data(api.get(f"/v1/dialogs/{world.dialog_id}"))
    assert (dialog["operator_id"], dialog["group_id"]) == (None, None)


def test_delete_outbox(api: TestClient, world: World) -> None:
    sent = data(api.post("/v1/messages", json={"client_id": world.client_id, "text": "hi"}))
    assert data(api.get("/gateway/delete_outbox", params={"client_id": world.client_id})) == {
        "deleted": 1
    }
    assert data(api.get(f"/v1/messages/{sent['message_id']}"))["delivery_status"] == "cancelled"
    refused(api.get("/gateway/delete_outbox", params={"channel_id": "x"}), 422)


# --- e-mail channel extras ---------------------------------------------------------------------


def test_signatures_read_and_write(
    api: TestClient, runtime: Runtime, company: CompanyFixture, world: World
) -> None:
    channel_id = email_channel(runtime, company.id)
    path = f"/v1/channels/{channel_id}/signatures"
    body = {"general_enabled": True, "general": "-- \n{company}"}
    saved = data(api.put(path, json=body))
    assert saved["general"] == "-- \n{company}" and saved["general_enabled"] is True
    assert data(api.get(path)) == saved
    refused(api.put(path, json={"operators": {str(world.operator_id): 5}}), 422)
    refused(api.get(f"/v1/channels/{channel_id + 100_000}/signatures"), 404)


def test_raw_and_attachment_downloads(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    message_id = ingest(runtime, channel_id, (FIXTURES / "rfc2231_filename.eml").read_bytes())
    assert message_id is not None
    raw = api.get(f"/v1/messages/{message_id}/raw")
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("message/rfc822")
    assert raw.content == (FIXTURES / "rfc2231_filename.eml").read_bytes()
    attachments = data(api.get(f"/v1/messages/{message_id}"))["attachments"]
    assert attachments
    link = attachments[0]["link"]
    got = api.get(link)
    assert got.status_code == 200 and got.headers["x-content-type-options"] == "nosniff"
    attachment_id = int(link.rstrip("/").rsplit("/", 1)[-1])
    refused(api.get(f"/v1/attachments/{attachment_id + 100_000}"), 404)
    refused(api.get(f"/v1/messages/{message_id + 100_000}/raw"), 404)


def test_reconnect_and_delete_unknown_channel(api: TestClient, world: World) -> None:
    unknown = world.channel_id + 100_000
    refused(api.post(f"/v1/channels/{unknown}/reconnect"), 404)
    refused(api.delete(f"/v1/channels/{unknown}"), 404)


def test_attachment_by_url_is_fetched_within_the_ssrf_guard(
    api: TestClient, runtime: Runtime, world: World
) -> None:
    files = FileServer()
    try:
        body = {
            "client_id": world.client_id,
            "text": "the file",
            "attachment": files.url("/file.pdf"),
        }
        refused_body = refused(api.post("/v1/messages", json=body), 422)
        assert "refused" in refused_body["errors"]["attachment"][0]
        assert files.paths == []
        runtime.settings.webhooks_allow_private_networks = True
        try:
            sent = data(api.post("/v1/messages", json=body))
        finally:
            runtime.settings.webhooks_allow_private_networks = False
        message = data(api.get(f"/v1/messages/{sent['message_id']}"))
        [attachment] = message["attachments"]
        assert attachment["name"] == "file.pdf"
        assert api.get(attachment["link"]).content == PDF
    finally:
        files.stop()
