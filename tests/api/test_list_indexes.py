"""The index ``GET /v1/clients`` reads its page and its count from (migration
``0014_list_reads``): a company's clients in id order, merged ones left out — partial on both
databases, so that what it holds is exactly what the list shows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from tests.conftest import CompanyFixture

from atendo.core.clients.models import Client
from atendo.runtime import Runtime


def test_the_unmerged_clients_index_is_partial(runtime: Runtime) -> None:
    with runtime.db.engine.connect() as conn:
        found = {ix["name"]: ix for ix in inspect(conn).get_indexes("clients")}
        index = found["ix_clients_company_unmerged"]
        assert index["column_names"] == ["company_id", "id"] and not index["unique"]
        if runtime.db.is_postgres:
            definition = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                {"n": "ix_clients_company_unmerged"},
            ).scalar_one()
        else:
            definition = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :n"),
                {"n": "ix_clients_company_unmerged"},
            ).scalar_one()
    assert definition.replace("(", "").replace(")", "").endswith("WHERE merged_into_id IS NULL"), (
        definition
    )


def test_the_list_reads_it_without_merged_clients(
    runtime: Runtime, company: CompanyFixture, api: TestClient
) -> None:
    ids = [
        api.post("/v1/clients", json={"phone": f"+5511952000{n:03d}"}).json()["data"]["id"]
        for n in range(3)
    ]
    with runtime.db.transaction() as session:
        row = session.scalars(
            select(Client).where(Client.company_id == company.id, Client.id == ids[1])
        ).one()
        row.merged_into_id = ids[0]
    r = api.get("/v1/clients", params={"limit": 20}).json()
    assert [c["id"] for c in r["data"]] == [ids[0], ids[2]] and r["meta"]["total"] == 2
