"""The API's conventions: auth, envelope, paging, tolerant paths, JSON errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture, app_with

from atendo.runtime import Runtime


def test_api_info_with_token(app_client: TestClient, company: CompanyFixture) -> None:
    r = app_client.get("/v1/companies/api_info", headers=company.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "success"
    assert body["data"]["company_name"] == "Acme"
    assert body["data"]["mode"] == "active"


def test_bearer_token_accepted(app_client: TestClient, company: CompanyFixture) -> None:
    r = app_client.get(
        "/v1/companies/api_info", headers={"Authorization": f"Bearer {company.token}"}
    )
    assert r.status_code == 200


def test_missing_or_wrong_token_is_401(app_client: TestClient) -> None:
    for headers in ({}, {"Authorization": "nope"}, {"Authorization": "Bearer "}):
        r = app_client.get("/v1/companies/api_info", headers=headers)
        assert r.status_code == 401
        assert r.json() == {
            "status": "error",
            "message": "You need to auth",
            "code": "unauthorized",
        }


def test_unknown_path_is_json_404(api: TestClient) -> None:
    r = api.get("/v1/does/not/exist")
    assert r.status_code == 404
    assert r.json() == {"status": "error", "message": "Page not found", "code": "not_found"}


def test_tolerant_slashes(api: TestClient) -> None:
    for path in ("/v1/operators/", "/v1//operators", "/v1/operators//"):
        r = api.get(path)
        assert r.status_code == 200, path
        assert r.json()["status"] == "success"


def test_paging_meta_and_bounds(api: TestClient) -> None:
    r = api.get("/v1/operators", params={"limit": 1000, "offset": -5})
    meta = r.json()["meta"]
    assert meta == {"total": 1, "limit": 200, "offset": 0}


def test_params_from_json_body_on_get(api: TestClient) -> None:
    r = api.request("GET", "/v1/operators", json={"limit": 1})
    assert r.json()["meta"]["limit"] == 1


def test_bad_parameter_is_422_json(api: TestClient) -> None:
    r = api.get("/v1/dialogs", params={"limit": "many"})
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == "error"
    assert "limit" in body["errors"]


def test_malformed_json_body_is_422(api: TestClient) -> None:
    r = api.put("/v1/companies", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["status"] == "error"


def test_help_endpoints(api: TestClient) -> None:
    assert "from_client" in api.get("/v1/help/message_types").json()["data"]
    assert api.get("/v1/help/dialog_states").json()["data"] == ["open", "closed"]
    assert "supervisor" in api.get("/v1/help/roles").json()["data"]
    assert "email" in api.get("/v1/help/transports").json()["data"]
    assert api.get("/v1/help/api_modes").json()["data"]
    assert api.get("/v1/countries").json()["meta"]["total"] > 0


def test_rename_company(api: TestClient) -> None:
    r = api.put("/v1/companies", data={"name": "Acme Brasil"})
    assert r.status_code == 200
    assert api.get("/v1/companies/api_info").json()["data"]["company_name"] == "Acme Brasil"


def test_request_body_limit_answers_413_json(runtime: Runtime, company: CompanyFixture) -> None:
    """Announced (Content-Length) and streamed (chunked) bodies over the limit are both cut."""
    big = json.dumps({"name": "x" * 2048}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 256):
            yield big[start : start + 256]

    headers = {**company.headers, "Content-Type": "application/json"}
    with app_with(runtime, max_request_bytes=1024) as client:
        for body in (big, chunks()):
            r = client.put("/v1/companies", headers=headers, content=body)
            assert r.status_code == 413, r.text
            assert r.json() == {
                "status": "error",
                "message": "Request body is too large",
                "code": "too_large",
            }
        small = client.put("/v1/companies", headers=headers, json={"name": "Small Co"})
        assert small.status_code == 200, small.text
