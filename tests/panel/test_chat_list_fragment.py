"""The chat list fragment (``GET /chats/list``) counts only when it shows the counts: the first
page the panel asks for itself (htmx) brings the tabs' counts and the summary along, from one
counting query; "load more" and a request that is not the panel's own read one dialog past
the page instead, and no fragment reads the filters' choices (operators, groups, tags,
channels), which only the whole page shows."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel
from tests.panel.conftest import PanelClient
from tests.panel.test_chat_list_rows import counted

Signin = Callable[[str, str], PanelClient]
ITEM = re.compile(r'data-testid="dialog-item" data-dialog-id="(\d+)"')
MORE = re.compile(r'hx-get="/chats/list\?offset=(\d+)"')
HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(runtime: Runtime, company: CompanyFixture, signin: Signin) -> PanelClient:
    """The company's admin, signed in, with eight chats in the list."""
    channel = external_channel(runtime, company.id)
    for n in range(8):
        client_message(runtime, company.id, channel, phone=f"+5511951000{n:03d}")
    return signin(company.admin_email, company.admin_password)


def _read(runtime: Runtime, admin: PanelClient, url: str, **headers: str) -> tuple[str, list[str]]:
    """The page's text and the SELECTs it ran."""
    with counted(runtime) as statements:
        r = admin.http.get(url, headers=headers)
    assert r.status_code == 200
    return r.text, statements


def _counting(statements: list[str]) -> list[str]:
    return [s for s in statements if "count(" in s.lower()]


def _choices(statements: list[str]) -> list[str]:
    """Statements reading the filters' choices (the whole page's selects)."""
    return [
        s
        for s in statements
        if re.search(r"FROM (tags|operator_groups|operator_group_members)\b", s)
        or re.search(r"SELECT channels\.id, channels\.company_id", s)
    ]


def test_pages_of_the_list_alone_count_nothing(runtime: Runtime, admin: PanelClient) -> None:
    pages = []
    for offset in ("", "4"):
        query = "?who=all&state=open&limit=4" + (f"&offset={offset}" if offset else "")
        for headers in ({}, HTMX):
            if not offset and headers:
                continue  # the panel's own first page: counted, below
            page, statements = _read(runtime, admin, "/chats/list" + query, **headers)
            assert _counting(statements) == [] and _choices(statements) == []
            assert 'id="list-summary"' not in page and 'id="views"' not in page
            pages.append((len(ITEM.findall(page)), MORE.findall(page)))
    # 8 chats by 4: the first page offers the next; the second, full and the last, does not
    assert pages == [(4, ["4"]), (4, []), (4, [])]


def test_the_panels_own_first_page_brings_every_count_from_one_query(
    runtime: Runtime, admin: PanelClient
) -> None:
    page, statements = _read(runtime, admin, "/chats/list?who=all&state=open&limit=5", **HTMX)
    assert len(_counting(statements)) == 1 and _choices(statements) == []
    assert len(ITEM.findall(page)) == 5 and MORE.findall(page) == ["5"]
    assert 'data-testid="count-all">8<' in page
    assert 'data-testid="count-unassigned">8<' in page
    assert 'data-testid="count-mine">0<' in page
    assert 'data-testid="count-open">8<' in page and 'data-testid="count-closed">0<' in page
    assert 'data-total="8"' in page


def test_the_whole_page_reads_the_filters_choices(runtime: Runtime, admin: PanelClient) -> None:
    page, statements = _read(runtime, admin, "/chats?who=all&state=open")
    assert _choices(statements) != []
    assert 'data-testid="count-all">8<' in page and 'data-total="8"' in page
