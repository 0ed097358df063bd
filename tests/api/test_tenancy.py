"""One company's token never sees another company's rows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture

from atendo.demo import fill_demo
from atendo.runtime import Runtime


def test_company_sees_only_its_rows(
    app_client: TestClient, runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    with runtime.db.transaction() as session:
        fill_demo(session, box=runtime.box, company_id=other_company.id)
    mine = company.headers
    theirs = other_company.headers
    for path in ("/v1/clients", "/v1/dialogs", "/v1/messages", "/v1/tags", "/v1/templates"):
        assert app_client.get(path, headers=mine).json()["meta"]["total"] == 0, path
        assert app_client.get(path, headers=theirs).json()["meta"]["total"] > 0, path
    # Every object of the other company is a 404 through my token.
    for path in ("/v1/clients", "/v1/dialogs", "/v1/messages", "/v1/tags", "/v1/templates"):
        for row in app_client.get(path, headers=theirs, params={"limit": 200}).json()["data"]:
            r = app_client.get(f"{path}/{row['id']}", headers=mine)
            assert r.status_code == 404, f"{path}/{row['id']}"
            assert app_client.get(f"{path}/{row['id']}", headers=theirs).status_code == 200
    op = app_client.get("/v1/operators", headers=theirs).json()["data"][0]
    assert app_client.get(f"/v1/operators/{op['id']}", headers=mine).status_code == 404
