"""Issue 18: sending limits. One message has at most 50 recipients (the setting); a channel
sends at most N messages a minute and M an hour, the rest waits in the queue (not failed), and
the operator sees why it waits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from atendo.core.dialogs.models import Dialog
from atendo.core.enums import DeliveryStatus
from atendo.core.messages.limits import SendLimits, held_by_limit
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import claim_due_batch
from atendo.kit.clock import set_clock
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_mail, email_channel, queued_reply


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    now = [datetime(2026, 12, 7, 12, 0, 0).astimezone()]
    set_clock(lambda: now[0])
    try:
        yield now
    finally:
        set_clock(None)


def test_a_thousand_recipients_are_refused_fifty_accepted(
    api: TestClient, runtime: Runtime, company: CompanyFixture
) -> None:
    channel_id = email_channel(runtime, company.id)
    many = [f"client{i}@example.org" for i in range(1000)]
    r = api.post(
        "/v1/dialogs",
        json={"channel_id": channel_id, "emails": many, "subject": "Hi", "text": "Hello"},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == {"emails": ["at most 50 recipients per message, 1000 given"]}
    with runtime.db.reading() as session:
        count = select(func.count(Dialog.id)).where(Dialog.company_id == company.id)
        assert session.scalar(count) == 0
    ok = api.post(
        "/v1/dialogs",
        json={"channel_id": channel_id, "emails": many[:50], "subject": "Hi", "text": "Hello"},
    )
    assert ok.status_code == 200, ok.text
    message = api.get(f"/v1/messages/{ok.json()['data']['message_id']}").json()["data"]
    assert len(message["email"]["to"]) == 50


def test_a_channel_over_its_rate_keeps_its_messages_queued(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    busy = email_channel(runtime, company.id, "busy@acme.example", send_delay=0)
    calm = email_channel(runtime, company.id, "calm@acme.example", send_delay=0)
    busy_dialog = client_mail(runtime, busy, sender="ana@example.org").dialog_id
    calm_dialog = client_mail(runtime, calm, sender="bia@example.org").dialog_id
    busy_ids = [queued_reply(runtime, company.id, busy_dialog, text=f"m{i}") for i in range(5)]
    calm_id = queued_reply(runtime, company.id, calm_dialog, text="calm")
    limits = SendLimits(per_minute=2, per_hour=3)

    mine = {*busy_ids, calm_id}

    def claim() -> list[int]:
        # (the module's other tests leave queued messages of other channels: not counted here)
        with runtime.db.transaction() as session:
            ids = claim_due_batch(session, worker_id="w1", limit=50, send_limits=limits)
        return [i for i in ids if i in mine]

    assert claim() == [*busy_ids[:2], calm_id]
    assert claim() == []  # the busy channel used its minute
    clock[0] += timedelta(seconds=61)
    assert claim() == [busy_ids[2]]  # its hour allows one more
    clock[0] += timedelta(seconds=61)
    assert claim() == []
    with runtime.db.reading() as session:
        held = [session.get(Message, i) for i in busy_ids[3:]]
        assert [m.delivery_status for m in held if m] == [DeliveryStatus.QUEUED] * 2
        assert all(m is not None and held_by_limit(m, clock[0]) for m in held)
    clock[0] += timedelta(hours=1)
    assert claim() == busy_ids[3:]
