"""Retention: events and webhook deliveries are pruned once done and older than the setting."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.conftest import TemplateDatabase, fresh_runtime, make_company

from atendo.core.enums import EventType
from atendo.core.events.models import Event
from atendo.core.events.service import event_row
from atendo.core.webhooks.models import Webhook, WebhookDelivery
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.workers import retention
from atendo.workers.retention import prune_once, retention_loop


def _event(
    runtime: Runtime,
    company_id: int,
    *,
    age_days: float,
    dispatched: bool,
    automation_owed: bool = False,
) -> int:
    row = event_row(company_id=company_id, type=EventType.INBOX, payload={})
    with runtime.db.transaction() as session:
        event = Event(**{**row, "dispatched": dispatched})
        event.automation_due = utcnow() if automation_owed else None
        event.created = utcnow() - timedelta(days=age_days)
        session.add(event)
        session.flush()
        return event.id


def _delivery(
    runtime: Runtime, company_id: int, hook_id: int, *, age_days: float, status: str
) -> int:
    with runtime.db.transaction() as session:
        delivery = WebhookDelivery(
            company_id=company_id,
            webhook_id=hook_id,
            event_id=0,
            payload={},
            status=status,
            attempts=1,
            created=utcnow() - timedelta(days=age_days),
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def _webhook(runtime: Runtime, company_id: int) -> int:
    with runtime.db.transaction() as session:
        hook = Webhook(company_id=company_id, url="https://example.com/hook", secret="x")
        session.add(hook)
        session.flush()
        return hook.id


def _left(runtime: Runtime) -> tuple[list[int], list[int]]:
    with runtime.db.reading() as session:
        events = list(session.scalars(select(Event.id).order_by(Event.id)))
        deliveries = list(session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)))
    return events, deliveries


@pytest.fixture
def own_runtime(template_database: TemplateDatabase) -> Iterator[Runtime]:
    # Pruning looks at every company: a database of this test's own keeps the counts exact.
    with fresh_runtime(template_database, event_retention_days=7.0) as rt:
        yield rt


def test_done_events_and_deliveries_older_than_the_retention_are_pruned(
    own_runtime: Runtime,
) -> None:
    rt = own_runtime
    a, b = make_company(rt).id, make_company(rt, "Other").id
    with rt.db.transaction() as session:  # the companies' own events (sign-up) are recent
        session.execute(Event.__table__.delete())
    old_done = _event(rt, a, age_days=10, dispatched=True)
    old_pending = _event(rt, a, age_days=10, dispatched=False)
    recent_done = _event(rt, b, age_days=1, dispatched=True)
    automation_owed = _event(rt, b, age_days=10, dispatched=True, automation_owed=True)
    other_old_done = _event(rt, b, age_days=8, dispatched=True)
    newest_old_done = _event(rt, a, age_days=9, dispatched=True)
    hook = _webhook(rt, a)
    d_old_done = _delivery(rt, a, hook, age_days=10, status="delivered")
    d_old_pending = _delivery(rt, a, hook, age_days=10, status="pending")
    d_recent_done = _delivery(rt, a, hook, age_days=2, status="delivered")

    assert prune_once(rt) == (2, 1)
    # The newest event stays whatever its age: on SQLite its id would otherwise come back.
    assert _left(rt) == (
        [old_pending, recent_done, automation_owed, newest_old_done],
        [d_old_pending, d_recent_done],
    )
    assert {old_done, other_old_done, d_old_done}.isdisjoint(_left(rt)[0] + _left(rt)[1])
    assert prune_once(rt) == (0, 0)


def test_the_retention_setting_is_honoured(template_database: TemplateDatabase) -> None:
    with fresh_runtime(template_database, event_retention_days=30.0) as rt:
        a = make_company(rt).id
        ten_days = _event(rt, a, age_days=10, dispatched=True)
        forty_days = _event(rt, a, age_days=40, dispatched=True)
        _event(rt, a, age_days=0, dispatched=True)
        assert prune_once(rt) == (1, 0)
        events, _ = _left(rt)
        assert ten_days in events and forty_days not in events


def test_pruning_goes_on_in_batches_until_nothing_is_left(
    own_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "PRUNE_BATCH", 2)
    a = make_company(own_runtime).id
    for _ in range(5):
        _event(own_runtime, a, age_days=10, dispatched=True)
    newest = _event(own_runtime, a, age_days=0, dispatched=True)
    before = len(_left(own_runtime)[0])
    assert prune_once(own_runtime) == (5, 0)
    assert _left(own_runtime)[0][-1] == newest and len(_left(own_runtime)[0]) == before - 5


def test_the_retention_loop_prunes_when_it_starts(own_runtime: Runtime) -> None:
    a = make_company(own_runtime).id
    old = _event(own_runtime, a, age_days=10, dispatched=True)
    _event(own_runtime, a, age_days=0, dispatched=True)
    stop = asyncio.Event()
    stop.set()  # one pass, then it sees the stop
    asyncio.run(retention_loop(own_runtime, stop))
    assert old not in _left(own_runtime)[0]
