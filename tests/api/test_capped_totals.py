"""``meta.total`` of the big lists (dialogs, messages, clients) is counted up to a bound past
the page (``atendo.kit.pagination.TOTAL_CAP``): exact below it, a lower bound marked
``total_exact: false`` beyond — and a client paging with ``offset < total`` still reaches the
end. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.test_chat_list_rows import counted

from atendo.kit import pagination
from atendo.runtime import Runtime


def _twelve(runtime: Runtime, company: CompanyFixture) -> None:
    channel = external_channel(runtime, company.id)
    for n in range(12):
        client_message(runtime, company.id, channel, phone=f"+55119300000{n:02d}")


@pytest.mark.parametrize("path", ["/v1/dialogs", "/v1/messages", "/v1/clients"])
def test_below_the_cap_the_total_is_exact(
    runtime: Runtime, company: CompanyFixture, api: TestClient, path: str
) -> None:
    _twelve(runtime, company)
    body = api.get(path, params={"limit": 5, "offset": 5}).json()
    assert body["meta"] == {"total": 12, "limit": 5, "offset": 5}
    assert len(body["data"]) == 5


@pytest.mark.parametrize("path", ["/v1/dialogs", "/v1/messages", "/v1/clients"])
def test_past_the_cap_the_total_is_a_marked_lower_bound_that_pages_to_the_end(
    runtime: Runtime,
    company: CompanyFixture,
    api: TestClient,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _twelve(runtime, company)
    monkeypatch.setattr(pagination, "TOTAL_CAP", 3)
    first = api.get(path, params={"limit": 2}).json()
    # counted up to 0 + 2 + 3 = 5, one more seen: "more than 5"
    assert first["meta"] == {"total": 6, "limit": 2, "offset": 0, "total_exact": False}
    # exactly at the bound it is still exact
    at = api.get(path, params={"limit": 2, "offset": 7}).json()
    assert at["meta"] == {"total": 12, "limit": 2, "offset": 7}
    seen: list[int] = []
    offset, total = 0, first["meta"]["total"]
    while offset < total:
        body = api.get(path, params={"limit": 2, "offset": offset}).json()
        seen += [row["id"] for row in body["data"]]
        offset += 2
        total = body["meta"]["total"]
    assert len(seen) == len(set(seen)) == 12
    assert total == 12


def test_the_clients_search_finds_by_name_assigned_name_or_address(
    runtime: Runtime, company: CompanyFixture, api: TestClient
) -> None:
    channel = external_channel(runtime, company.id)
    by_address = client_message(runtime, company.id, channel, phone="+5511977712345").client_id
    named = client_message(runtime, company.id, channel, phone="+5511900000101").client_id
    assigned = client_message(runtime, company.id, channel, phone="+5511900000102").client_id
    client_message(runtime, company.id, channel, phone="+5511900000103")
    assert api.put(f"/v1/clients/{named}", json={"nickname": "Maria 7771"}).status_code == 200
    with runtime.db.transaction() as session:
        from atendo.core.clients.models import Client
        from atendo.kit.db import get_scoped

        row = get_scoped(session, Client, assigned, company_id=company.id)
        assert row is not None
        row.assigned_name = "Zé do 777"
    body = api.get("/v1/clients", params={"search": "777"}).json()
    assert sorted(c["id"] for c in body["data"]) == sorted([by_address, named, assigned])
    assert body["meta"]["total"] == 3
    body = api.get("/v1/clients", params={"search": "MARIA"}).json()
    assert [c["id"] for c in body["data"]] == [named]


def test_a_client_just_created_is_found_by_the_next_search(
    company: CompanyFixture, api: TestClient
) -> None:
    """``q`` reads the search index: the clients' list brings it up to date first, as the
    dialogs' does (a new client is indexed by the catch-up, not at its insert)."""
    made = api.post("/v1/clients", json={"phone": "+5511944443333", "nickname": "Joana Araújo"})
    assert made.status_code == 200
    body = api.get("/v1/clients", params={"q": "joana araujo"}).json()
    assert [c["id"] for c in body["data"]] == [made.json()["data"]["id"]]
    assert body["meta"]["total"] == 1


@pytest.mark.parametrize("path", ["/v1/dialogs", "/v1/messages", "/v1/clients"])
def test_a_page_that_is_not_full_tells_the_total_without_counting(
    runtime: Runtime, company: CompanyFixture, api: TestClient, path: str
) -> None:
    _twelve(runtime, company)
    with counted(runtime) as statements:
        body = api.get(path, params={"limit": 5, "offset": 10}).json()
    assert body["meta"] == {"total": 12, "limit": 5, "offset": 10}
    assert len(body["data"]) == 2
    assert not [s for s in statements if "count(" in s.lower()]
    # past the end the page is empty: then it counts
    with counted(runtime) as statements:
        body = api.get(path, params={"limit": 5, "offset": 20}).json()
    assert body["meta"] == {"total": 12, "limit": 5, "offset": 20}
    assert body["data"] == []
    assert len([s for s in statements if "count(" in s.lower()]) == 1


def test_the_dialogs_search_pages_and_counts_as_the_list_does(
    runtime: Runtime, company: CompanyFixture, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``q`` on PostgreSQL reads the ids found first and pages among them (no ``COUNT``), and
    past the bound falls back to the plain form: the same pages, totals and order as the list
    without ``q`` when every dialog matches, with the other filters kept."""
    _twelve(runtime, company)
    ids = [d["id"] for d in api.get("/v1/dialogs", params={"limit": 50}).json()["data"]]
    closed = ids[3:5]
    r = api.put("/v1/dialogs", json={"dialog_ids": closed, "state": "closed"})
    assert r.status_code == 200, r.text

    def page(**params: object) -> dict[str, object]:
        body = api.get("/v1/dialogs", params={"q": "9300000", **params}).json()
        return {"ids": [d["id"] for d in body["data"]], "meta": body["meta"]}

    assert page(limit=5, offset=5) == {
        "ids": ids[5:10],
        "meta": {"total": 12, "limit": 5, "offset": 5},
    }
    assert page(limit=50, order="asc")["ids"] == ids[::-1]
    open_ids = [i for i in ids if i not in closed]
    assert page(limit=4, state="open") == {
        "ids": open_ids[:4],
        "meta": {"total": 10, "limit": 4, "offset": 0},
    }
    assert page(limit=50, state="closed")["ids"] == closed
    assert page(q="nobody by this name") == {
        "ids": [],
        "meta": {"total": 0, "limit": 20, "offset": 0},
    }
    monkeypatch.setattr(pagination, "TOTAL_CAP", 3)
    assert page(limit=2) == {
        "ids": ids[:2],
        "meta": {"total": 6, "limit": 2, "offset": 0, "total_exact": False},
    }
    assert page(limit=2, offset=7) == {
        "ids": ids[7:9],
        "meta": {"total": 12, "limit": 2, "offset": 7},
    }
    assert page(limit=3, offset=2, state="open") == {
        "ids": open_ids[2:5],
        "meta": {"total": 9, "limit": 3, "offset": 2, "total_exact": False},
    }


@pytest.mark.parametrize("param", ["search", "q"])
def test_the_clients_search_pages_and_counts_as_the_list_does(
    runtime: Runtime,
    company: CompanyFixture,
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    param: str,
) -> None:
    """A search of the clients on PostgreSQL reads the ids found first and pages among them
    (no ``COUNT``); past the bound the plain form: the same pages and totals as the list
    without the search when every client matches."""
    _twelve(runtime, company)
    ids = [c["id"] for c in api.get("/v1/clients", params={"limit": 50}).json()["data"]]

    def page(**params: object) -> dict[str, object]:
        body = api.get("/v1/clients", params={param: "9300000", **params}).json()
        return {"ids": [c["id"] for c in body["data"]], "meta": body["meta"]}

    assert page(limit=5, offset=5) == {
        "ids": ids[5:10],
        "meta": {"total": 12, "limit": 5, "offset": 5},
    }
    assert page(limit=50, order="desc")["ids"] == ids[::-1]
    # the other filters are kept
    assert page(limit=3, phone="+5511930000004")["ids"] == [ids[4]]
    assert page(limit=3, phone="+5511999999999")["ids"] == []
    monkeypatch.setattr(pagination, "TOTAL_CAP", 3)
    assert page(limit=2) == {
        "ids": ids[:2],
        "meta": {"total": 6, "limit": 2, "offset": 0, "total_exact": False},
    }
    assert page(limit=2, offset=7) == {
        "ids": ids[7:9],
        "meta": {"total": 12, "limit": 2, "offset": 7},
    }
