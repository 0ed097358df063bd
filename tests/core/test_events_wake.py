"""Writing events (``emit``, ``emit_rows``) wakes this process's
:class:`atendo.kit.wake.Fanout` of ``atendo_events`` with the company's id, on both databases:
the waiters of that company and those of every company, not the others'; once per transaction
and company however many events it writes; a rollback wakes nobody.

Wake-ups arrive in commit order (one listening connection on PostgreSQL, one loop's callbacks
in-process), so a last notify of a key nobody else waits for closes each step: once its waiter
is woken, whatever the earlier commits would wake has been woken.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event
from tests.conftest import CompanyFixture

from atendo.core.enums import EventType
from atendo.core.events.service import (
    LOOKBACK,
    TOPIC,
    EventCursor,
    emit,
    emit_rows,
    event_row,
)
from atendo.kit.wake import Fanout, Waiter, notify
from atendo.runtime import Runtime

WAIT = 30.0  # a bound for a broken build, not a measure


def _tag_event(company_id: int) -> dict[str, Any]:
    return event_row(company_id=company_id, type=EventType.NEW_TAG, payload={"n": company_id})


def test_events_wake_the_waiters_of_their_company_once_per_transaction(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    one, two = str(company.id), str(other_company.id)
    notifies: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "pg_notify" in statement:
            notifies.append(statement)

    def write(
        company_id: int, *, commit: bool = True, ways: tuple[str, ...] = ("emit", "rows")
    ) -> dict[str, set[str]]:
        """Events of the company in one transaction: two by ``emit``, two by ``emit_rows``."""
        with runtime.db.transaction() as session:
            if "emit" in ways:
                emit(session, company_id=company_id, type=EventType.NEW_TAG, payload={})
                emit(session, company_id=company_id, type=EventType.NEW_TAG, payload={})
            if "rows" in ways:
                emit_rows(session, [_tag_event(company_id), _tag_event(company_id)])
            pending = dict(session.info.get("atendo_wake") or {})
            if not commit:
                session.rollback()
            return pending

    def closing(key: str) -> None:
        with runtime.db.transaction() as session:
            notify(session, TOPIC, key)

    async def woken(waiter: Waiter) -> None:
        await asyncio.wait_for(waiter.event.wait(), WAIT)

    async def scenario() -> None:
        fan = Fanout(runtime.db.url, TOPIC)  # this test's own: nobody else's waiters
        first, second, every, last = (fan.watch(k) for k in (one, two, None, "closing"))
        waiters = (first, second, every, last)
        if runtime.db.is_postgres:  # listening (again) wakes everyone: anything may be missed
            for waiter in waiters:
                await woken(waiter)
                waiter.event.clear()

        pending = await asyncio.to_thread(write, company.id)
        await asyncio.to_thread(closing, "closing")
        await woken(last)
        assert [w.event.is_set() for w in waiters] == [True, False, True, True]
        if runtime.db.is_postgres:
            assert len(notifies) == 2  # the company's (four events), then the closing one
        else:
            assert pending == {TOPIC: {one}}
        for waiter in waiters:
            waiter.event.clear()

        # Rolled back: nothing (the waiter of every key has the closing notify only). Then the
        # other company: its waiters.
        await asyncio.to_thread(write, other_company.id, commit=False)
        await asyncio.to_thread(closing, "closing")
        await woken(last)
        assert [w.event.is_set() for w in waiters] == [False, False, True, True]
        every.event.clear()
        last.event.clear()
        await asyncio.to_thread(write, other_company.id, ways=("rows",))
        await asyncio.to_thread(closing, "closing")
        await woken(last)
        assert [w.event.is_set() for w in waiters] == [False, True, True, True]
        for waiter in waiters:
            waiter.event.clear()
        await asyncio.to_thread(write, company.id, ways=("emit",))
        await asyncio.to_thread(closing, "closing")
        await woken(last)
        assert [w.event.is_set() for w in waiters] == [True, False, True, True]
        for waiter in waiters:
            fan.unwatch(waiter)
        assert fan._task is not None
        fan._task.cancel()

    engine = runtime.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        asyncio.run(scenario())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    if runtime.db.is_postgres:
        assert (
            len(notifies) == 2 + 2 + 2 + 2
        )  # the rolled-back one was sent (PostgreSQL dropped it)


def _cursor_for(runtime: Runtime, company_id: int) -> EventCursor:
    lookback = LOOKBACK if runtime.db.is_postgres else 0
    with runtime.db.reading() as session:
        return EventCursor.at_end(session, company_id=company_id, lookback=lookback)


def _read(runtime: Runtime, cursor: EventCursor, company_id: int) -> list[int]:
    with runtime.db.reading() as session:
        return [e.id for e in cursor.read(session, company_id=company_id)]


def _emit_one(session: Any, company_id: int) -> int:
    return emit(session, company_id=company_id, type=EventType.NEW_TAG, payload={}).id


def test_the_live_cursor_reads_each_committed_event_once_and_not_another_companys(
    runtime: Runtime, company: CompanyFixture, other_company: CompanyFixture
) -> None:
    with runtime.db.transaction() as session:
        _emit_one(session, company.id)  # before the stream: not for it
    cursor = _cursor_for(runtime, company.id)
    with runtime.db.transaction() as session:
        first = [_emit_one(session, company.id), _emit_one(session, company.id)]
        _emit_one(session, other_company.id)
    assert _read(runtime, cursor, company.id) == first
    assert _read(runtime, cursor, company.id) == []
    with runtime.db.transaction() as session:
        third = _emit_one(session, company.id)
    assert _read(runtime, cursor, company.id) == [third]
    assert _read(runtime, cursor, company.id) == []


def test_an_event_committed_after_a_later_one_still_reaches_the_live_cursor(
    runtime: Runtime, company: CompanyFixture
) -> None:
    """PostgreSQL takes an event's id at insert, before commit: a transaction that commits
    after a later one shows an id the reader has already passed (SQLite has one writer at a
    time, so this can only happen on PostgreSQL)."""
    if not runtime.db.is_postgres:
        pytest.skip("concurrent writers: PostgreSQL only (SQLite has one writer at a time)")
    cursor = _cursor_for(runtime, company.id)
    with runtime.db.transaction() as slow:
        late = _emit_one(slow, company.id)  # id taken, not committed yet
        with runtime.db.transaction() as quick:
            early = _emit_one(quick, company.id)
        assert late < early
        assert _read(runtime, cursor, company.id) == [early]
    assert _read(runtime, cursor, company.id) == [late]
    assert _read(runtime, cursor, company.id) == []
