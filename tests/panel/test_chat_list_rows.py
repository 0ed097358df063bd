"""The chat list's rows: what each shows, read with a fixed number of queries however many
rows the page has (no query per row)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from atendo.core.dialogs.service import assign_dialog
from atendo.core.messages.models import Message
from atendo.core.operators.models import Operator
from atendo.panel.auth import PanelUser
from atendo.panel.views import DialogRow, ListFilters, dialog_rows
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_message, external_channel, queued_reply


def _admin(runtime: Runtime, company: CompanyFixture) -> PanelUser:
    with runtime.db.reading() as session:
        op = session.get(Operator, company.admin_id)
        assert op is not None
        return PanelUser(
            id=op.id,
            company_id=company.id,
            role=op.role,
            email=op.email,
            name=op.full_name,
            language="en",
            timezone="UTC",
            csrf="",
            session_id=0,
        )


@contextmanager
def counted(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)


def _rows(runtime: Runtime, user: PanelUser) -> tuple[list[DialogRow], int]:
    with counted(runtime) as statements, runtime.db.reading() as session:
        rows, _total = dialog_rows(session, user, ListFilters(state=""), offset=0, limit=25)
    return rows, len(statements)


def test_each_row_shows_its_client_last_message_channel_and_operator(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel = external_channel(runtime, company.id, name="Site chat")
    first = client_message(runtime, company.id, channel, phone="+5511900000001", text="Oi\nbom dia")
    second = client_message(runtime, company.id, channel, phone="+5511900000002", text="Olá")
    with runtime.db.transaction() as session:
        assign_dialog(
            session, company_id=company.id, dialog_id=first.dialog_id, operator_id=company.admin_id
        )
    user = _admin(runtime, company)
    rows, _n = _rows(runtime, user)
    by_id = {r.id: r for r in rows}
    assert set(by_id) == {first.dialog_id, second.dialog_id}
    one, two = by_id[first.dialog_id], by_id[second.dialog_id]
    assert (one.address, one.client_name, one.preview, one.channel, one.operator) == (
        "+5511900000001",
        "+5511900000001",
        "Oi bom dia",
        "Site chat",
        user.name,
    )
    assert (two.address, two.preview, two.channel, two.operator) == (
        "+5511900000002",
        "Olá",
        "Site chat",
        "",
    )


def test_a_longer_page_costs_no_more_queries(runtime: Runtime, company: CompanyFixture) -> None:
    channel = external_channel(runtime, company.id)
    user = _admin(runtime, company)
    client_message(runtime, company.id, channel, phone="+5511910000000")
    _rows1, with_one = _rows(runtime, user)
    for n in range(1, 8):
        arrival = client_message(runtime, company.id, channel, phone=f"+551191000000{n}")
        if n % 2:
            with runtime.db.transaction() as session:
                assign_dialog(
                    session,
                    company_id=company.id,
                    dialog_id=arrival.dialog_id,
                    operator_id=company.admin_id,
                )
    rows, with_eight = _rows(runtime, user)
    assert len(rows) == 8
    assert with_eight == with_one + 1  # the operators' names: none were assigned before


def test_a_row_waits_since_the_clients_last_message_until_it_is_answered(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel = external_channel(runtime, company.id)
    waiting = client_message(runtime, company.id, channel, text="still there?")
    answered = client_message(runtime, company.id, channel, text="thanks")
    queued_reply(runtime, company.id, answered.dialog_id, operator_id=company.admin_id)
    with runtime.db.reading() as session:
        asked = session.get(Message, waiting.message_id)
        assert asked is not None
        since = asked.created
    rows, _n = _rows(runtime, _admin(runtime, company))
    by_id = {r.id: r for r in rows}
    assert by_id[waiting.dialog_id].waiting_since == since
    # the operator's answer is the last message: nobody waits (it is not the client's)
    assert by_id[answered.dialog_id].waiting_since is None
