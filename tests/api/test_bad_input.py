"""Regressions found by schemathesis: a bad request gets a 4xx in the error envelope, never a 500.

What used to reach the database driver and crash: numbers wider than the integer columns
(SQLite: "Python int too large to convert to SQLite INTEGER"; PostgreSQL: "integer out of
range"), text with NUL characters and text longer than its column (PostgreSQL only), lone
surrogates from JSON escapes, URLs that the URL parsers refuse outright.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

HUGE = 2**64
WIDE = 2**40  # fits Python and SQLite, not a PostgreSQL integer column


def assert_error(response: object, status: int, field: str | None = None) -> None:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == "error" and body["message"]
    if field is not None:
        assert field in body["errors"]


def test_wide_numbers_in_query_and_body_are_invalid(api: TestClient) -> None:
    assert_error(api.get("/v1/messages", params={"client_id": HUGE}), 422, "client_id")
    assert_error(api.get("/v1/dialogs", params={"operator_id": -HUGE}), 422, "operator_id")
    assert_error(api.post("/v1/tags", json={"tag_label": "x", "order_show": WIDE}), 422)
    assert_error(api.post("/v1/tag_groups", json={"tag_group_name": "g", "order_show": HUGE}), 422)
    assert_error(api.put("/v1/requests/close", json={"request_id": HUGE}), 422, "request_id")
    assert_error(
        api.post("/v1/dialogs", json={"channel_id": HUGE, "emails": ["a@b.example"]}),
        422,
        "channel_id",
    )
    assert_error(
        api.post(
            "/v1/tags/assign_to",
            json={"tag_ids": [1, HUGE], "assignee_type": "client", "assignee_id": 1},
        ),
        422,
        "tag_ids",
    )


def test_wide_ids_in_the_path_are_not_found(api: TestClient) -> None:
    for path in (f"/v1/clients/{HUGE}", f"/v1/dialogs/{HUGE}", f"/v1/messages/{WIDE}/read"):
        assert_error(api.get(path), 404)
    assert_error(api.put(f"/v1/webhooks/{HUGE}", json={"name": "x"}), 404)


def test_integral_floats_and_spaced_numbers_still_count(api: TestClient) -> None:
    r = api.post("/v1/tag_groups", json={"tag_group_name": "Float", "order_show": 3.0})
    assert r.status_code == 201 and r.json()["data"]["order_show"] == 3
    assert api.get("/v1/clients", params={"limit": " 2 "}).json()["meta"]["limit"] == 2
    assert_error(api.post("/v1/tag_groups", json={"tag_group_name": "F", "order_show": 1.5}), 422)
    assert_error(api.post("/v1/tag_groups", json={"tag_group_name": "B", "order_show": True}), 422)


def test_nul_characters_are_invalid(api: TestClient) -> None:
    assert_error(api.put("/v1/companies", json={"name": "A\x00B"}), 422, "name")
    assert_error(api.get("/v1/operators", params={"email": "a\x00@b"}), 422, "email")
    assert_error(api.put("/v1/companies", data={"name": "form\x00"}), 422, "name")
    inbox = {"channel_id": 1, "body": "hi", "from_client": {"phone": "1\x00"}}
    assert_error(api.post("/v1/messages/inbox", json=inbox), 422, "from_client")


def test_text_longer_than_its_column_is_invalid(api: TestClient) -> None:
    assert_error(api.put("/v1/companies", json={"name": "n" * 201}), 422, "name")
    assert_error(api.post("/v1/tags", json={"tag_label": "t", "tag_bg_color": "c" * 21}), 422)
    assert_error(api.post("/v1/tag_groups", json={"tag_group_name": "g" * 201}), 422)
    assert_error(
        api.post("/v1/operators", json={"email": "a@b.example", "first_name": "f" * 101}), 422
    )
    assert_error(
        api.post("/v1/dialogs", json={"channel_id": 1, "emails": ["e" * 321]}), 422, "emails"
    )
    inbox = {"channel_id": 1, "body": "hi", "from_client": {"phone": "9" * 51}}
    assert_error(api.post("/v1/messages/inbox", json=inbox), 422, "from_client")
    assert api.put("/v1/companies", json={"name": "n" * 200}).status_code == 200


def test_a_stranger_gets_401_before_any_validation(app_client: TestClient) -> None:
    bad = {"Authorization": "wrong"}
    assert_error(app_client.put("/v1/companies", json={"name": "n" * 500}, headers=bad), 401)
    assert_error(app_client.get(f"/v1/clients/{HUGE}", headers=bad), 401)


def test_lone_surrogates_from_json_escapes_are_invalid(api: TestClient) -> None:
    raw = {"content-type": "application/json"}
    r = api.put("/v1/companies", content=b'{"name": "a\\ud800b"}', headers=raw)
    assert_error(r, 422, "name")
    client = api.post("/v1/clients", json={"phone": "+5511999990001"}).json()["data"]
    r = api.put(
        f"/v1/clients/{client['id']}", content=b'{"custom_fields": {"\\udfff": 1}}', headers=raw
    )
    assert_error(r, 422, "custom_fields")
    assert api.get(f"/v1/clients/{client['id']}").json()["data"]["custom_fields"] == {}


def test_urls_the_parsers_refuse_are_invalid(api: TestClient) -> None:
    assert_error(api.post("/v1/webhooks", json={"url": "http://[::1"}), 422, "url")
    assert_error(api.post("/v1/companies/web_hook", json={"url": "http://[::1"}), 422, "url")
    inbox = api.post("/v1/channels", json={"transport": "external", "name": "Ext"}).json()["data"]
    sent = api.post(
        "/v1/messages/inbox",
        json={"channel_id": inbox["id"], "body": "oi", "from_client": {"phone": "+5511999990002"}},
    ).json()["data"]
    for url in ("http://999.1.1.1/file.pdf", "http://[::1/file.pdf"):
        r = api.post(
            "/v1/messages", json={"dialog_id": sent["dialog_id"], "text": "x", "attachment": url}
        )
        assert_error(r, 422, "attachment")


def test_numbers_beyond_64_bits_in_an_object_are_invalid(api: TestClient) -> None:
    client = api.post("/v1/clients", json={"phone": "+5511999990002"}).json()["data"]
    for fields in ({"plan": 2**64}, {"plan": [1, -(2**63) - 1]}, {"a": {"b": 2**63}}):
        r = api.put(f"/v1/clients/{client['id']}", json={"custom_fields": fields})
        assert_error(r, 422, "custom_fields")
    assert api.get(f"/v1/clients/{client['id']}").json()["data"]["custom_fields"] == {}
    edge = {"low": -(2**63), "high": 2**63 - 1, "yes": True}
    r = api.put(f"/v1/clients/{client['id']}", json={"custom_fields": edge})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["custom_fields"] == edge
