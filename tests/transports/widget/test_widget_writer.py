"""The visitors' messages that wait at the same moment are stored in one transaction (group
commit, :mod:`atendo.transports.widget.writer`): each acked after that commit, in order per
visitor; when one of them fails, the others are stored all the same, each alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from atendo.core.channels.models import Channel
from atendo.core.messages.models import Message
from atendo.runtime import Runtime
from atendo.transports.widget.hub import hub_for
from atendo.transports.widget.limits import Limits
from atendo.transports.widget.routes import Connection, _read_channel
from atendo.transports.widget.visitors import Visitor
from tests.conftest import CompanyFixture
from tests.factories import widget_channel


def _connection(runtime: Runtime, public_id: str, visitor_id: str) -> Connection:
    found = _read_channel(runtime, public_id)
    assert found is not None
    channel, cfg = found
    limits = Limits(visitor_per_minute=100, ip_per_minute=100, chats_per_hour=100)
    return Connection(
        runtime, hub_for(runtime), channel, cfg, Visitor(channel.id, visitor_id), limits
    )


@pytest.fixture
def commits(runtime: Runtime) -> Iterator[list[str]]:
    """The commits and rollbacks of the runtime's engine, in order."""
    seen: list[str] = []

    def on_commit(_conn: Any) -> None:
        seen.append("commit")

    def on_rollback(_conn: Any) -> None:
        seen.append("rollback")

    event.listen(runtime.db.engine, "commit", on_commit)
    event.listen(runtime.db.engine, "rollback", on_rollback)
    yield seen
    event.remove(runtime.db.engine, "commit", on_commit)
    event.remove(runtime.db.engine, "rollback", on_rollback)


def _sent(conns: list[tuple[Connection, str]]) -> list[list[dict[str, Any]]]:
    """Every connection sends its message at the same moment; the frames each gets back."""

    async def burst() -> list[list[dict[str, Any]]]:
        return list(
            await asyncio.gather(
                *(c.handle({"t": "msg", "text": text, "key": text}) for c, text in conns)
            )
        )

    return asyncio.run(burst())


def _stored(runtime: Runtime, company: CompanyFixture) -> list[tuple[int, str]]:
    with runtime.db.reading() as session:
        rows = session.execute(
            select(Message.id, Message.text)
            .where(Message.company_id == company.id)
            .order_by(Message.id)
        )
        return [(i, t) for i, t in rows]


def test_a_burst_from_several_visitors_is_one_transaction_each_acked_in_order(
    runtime: Runtime, company: CompanyFixture, commits: list[str]
) -> None:
    public_id = str(widget_channel(runtime, company.id).settings["public_id"])
    known = _connection(runtime, public_id, "known")
    first = _sent([(known, "k0")])  # a visitor who wrote before: client, dialog, request
    assert [f["t"] for f in first[0]] == ["ack"]
    ana, bia, tab = (_connection(runtime, public_id, v) for v in ("ana", "bia", "known"))
    commits.clear()
    burst = [(ana, "a1"), (known, "k1"), (bia, "b1"), (tab, "k2"), (ana, "a2")]

    frames = _sent(burst)

    assert commits == ["commit"]  # one transaction for the five
    stored = _stored(runtime, company)
    assert [t for _i, t in stored] == ["k0", "a1", "k1", "b1", "k2", "a2"]  # in arrival order
    ids = {t: i for i, t in stored}
    assert frames == [[{"t": "ack", "key": t, "id": ids[t]}] for _c, t in burst]
    with runtime.db.reading() as session:
        rows = session.execute(
            select(Message.text, Message.client_id).where(Message.company_id == company.id)
        )
        clients = {text: client_id for text, client_id in rows}
    assert clients["a1"] == clients["a2"] == ana.client_id
    assert clients["k0"] == clients["k1"] == clients["k2"] == known.client_id
    assert len({clients["a1"], clients["b1"], clients["k1"]}) == 3


def test_one_failing_message_loses_none_of_the_others(
    runtime: Runtime, company: CompanyFixture, commits: list[str]
) -> None:
    """The batch's transaction fails on one message (its channel is gone): nothing of it is
    kept, each message is stored again alone; the failing one alone gets an error."""
    public_id = str(widget_channel(runtime, company.id).settings["public_id"])
    ana, bia, cid = (_connection(runtime, public_id, v) for v in ("ana", "bia", "cid"))
    gone = _connection(runtime, public_id, "gone")
    gone.channel = Channel(id=10**9, company_id=company.id, transport="widget", name="gone")
    commits.clear()
    burst = [(ana, "a1"), (gone, "g1"), (bia, "b1"), (cid, "c1")]

    frames = _sent(burst)

    assert commits == ["rollback", "commit", "rollback", "commit", "commit"]
    stored = _stored(runtime, company)
    assert [t for _i, t in stored] == ["a1", "b1", "c1"]
    ids = {t: i for i, t in stored}
    assert frames[0] == [{"t": "ack", "key": "a1", "id": ids["a1"]}]
    assert [f["t"] for f in frames[1]] == ["error"] and frames[1][0]["code"] == "failed"
    assert frames[2] == [{"t": "ack", "key": "b1", "id": ids["b1"]}]
    assert frames[3] == [{"t": "ack", "key": "c1", "id": ids["c1"]}]
    assert gone.client_id is None


def test_a_batch_reads_its_channel_once_and_each_client_once(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """Messages of known visitors in one batch: one SELECT of the channel for all of them,
    one of each visitor's client (by their identity), none again for the pre-chat answers."""
    public_id = str(widget_channel(runtime, company.id).settings["public_id"])
    conns = [_connection(runtime, public_id, v) for v in ("ana", "bia", "cid")]
    _sent([(c, f"{i}-first") for i, c in enumerate(conns)])  # now known visitors
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip())

    event.listen(runtime.db.engine, "before_cursor_execute", before)
    try:
        frames = _sent([(c, f"{i}-again") for i, c in enumerate(conns)])
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", before)

    assert [[f["t"] for f in got] for got in frames] == [["ack"], ["ack"], ["ack"]]
    assert sum(s.startswith("SELECT channels.") for s in statements) == 1
    assert sum(s.startswith("SELECT clients.") for s in statements) == 3
