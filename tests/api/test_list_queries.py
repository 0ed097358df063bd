"""The list endpoints read a page with a fixed number of queries, whatever its length."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.test_chat_list_rows import counted

from atendo.runtime import Runtime

PATHS = ("/v1/dialogs", "/v1/clients", "/v1/messages")


def _selects(runtime: Runtime, api: TestClient) -> dict[str, int]:
    out = {}
    for path in PATHS:
        with counted(runtime) as statements:
            assert api.get(path, params={"limit": 50}).status_code == 200
        out[path] = len(statements)
    return out


def test_a_longer_page_costs_no_more_queries(
    runtime: Runtime, company: CompanyFixture, api: TestClient
) -> None:
    channel = external_channel(runtime, company.id)
    client_message(runtime, company.id, channel, phone="+5511920000000")
    one = _selects(runtime, api)
    for n in range(1, 10):
        client_message(runtime, company.id, channel, phone=f"+551192000000{n}")
    assert len(api.get("/v1/dialogs", params={"limit": 50}).json()["data"]) == 10
    assert _selects(runtime, api) == one
