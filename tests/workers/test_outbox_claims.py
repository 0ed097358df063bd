"""The outbox's retry schedule and the claims of workers that stopped (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

from atendo.core.enums import DeliveryStatus
from atendo.core.leases.service import beat
from atendo.core.messages.models import Message
from atendo.core.messages.outbox import (
    claim_due_batch,
    fair_claim_limit,
    record_outcomes,
    requeue_claims_of_lapsed_workers,
)
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import client_mail, email_channel, queued_reply
from tests.workers.conftest import T0


def _queued(runtime: Runtime, company: CompanyFixture, count: int) -> list[int]:
    channel_id = email_channel(runtime, company.id, send_delay=0)
    ids = []
    for i in range(count):
        mail = client_mail(runtime, channel_id, sender=f"c{i}@example.org", subject=f"s{i}")
        ids.append(queued_reply(runtime, company.id, mail.dialog_id, text=f"answer {i}"))
    return ids


def _row(runtime: Runtime, message_id: int) -> Message:
    with runtime.db.reading() as session:
        row = session.get(Message, message_id)
        assert row is not None
        return row


def _fail_once(runtime: Runtime, message_id: int, worker: str) -> None:
    from atendo.core.messages.outbox import TemporaryFailure

    with runtime.db.transaction() as session:
        assert claim_due_batch(session, worker_id=worker, limit=10) == [message_id]
    with runtime.db.transaction() as session:
        record_outcomes(session, [(message_id, TemporaryFailure("451 try later"))])


def test_a_retried_message_waits_longer_each_time_and_is_no_longer_claimed(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    (message_id,) = _queued(runtime, company, 1)
    _fail_once(runtime, message_id, "w1")
    row = _row(runtime, message_id)
    assert (row.delivery_status, row.claimed_by, row.attempts) == ("queued", None, 1)
    assert row.send_at == T0 + timedelta(minutes=1)
    clock[0] = T0 + timedelta(minutes=1)
    _fail_once(runtime, message_id, "w1")
    row = _row(runtime, message_id)
    assert (row.delivery_status, row.claimed_by, row.attempts) == ("queued", None, 2)
    assert row.send_at == T0 + timedelta(minutes=1 + 5)
    clock[0] = T0 + timedelta(minutes=6)
    _fail_once(runtime, message_id, "w1")
    assert _row(runtime, message_id).send_at == T0 + timedelta(minutes=6 + 30)


def test_claims_of_a_worker_whose_heartbeat_lapsed_go_back_to_the_queue(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    ids = _queued(runtime, company, 4)
    with runtime.db.transaction() as session:
        beat(session, worker_id="alive")
        beat(session, worker_id="dead")
        assert claim_due_batch(session, worker_id="dead", limit=3) == ids[:3]
        assert claim_due_batch(session, worker_id="alive", limit=3) == ids[3:]
    clock[0] = T0 + timedelta(seconds=20)
    with runtime.db.transaction() as session:
        beat(session, worker_id="alive")
        assert requeue_claims_of_lapsed_workers(session, lapse=timedelta(seconds=15)) == ids[:3]
    for message_id in ids[:3]:
        row = _row(runtime, message_id)
        assert (row.delivery_status, row.claimed_by, row.attempts) == ("queued", None, 1)
    assert _row(runtime, ids[3]).delivery_status == DeliveryStatus.SENDING
    with runtime.db.transaction() as session:
        # Claimed again, with the same Message-ID they were built with the first time.
        assert claim_due_batch(session, worker_id="alive", limit=10) == ids[:3]
        assert requeue_claims_of_lapsed_workers(session, lapse=timedelta(seconds=15)) == []


def test_a_claim_takes_its_share_of_a_burst_by_live_workers(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    _queued(runtime, company, 9)
    with runtime.db.transaction() as session:
        assert fair_claim_limit(session, most=200, live_workers=1) == 200
        assert fair_claim_limit(session, most=200, live_workers=2) == 5
        assert fair_claim_limit(session, most=200, live_workers=3) == 3
        assert fair_claim_limit(session, most=2, live_workers=2) == 2
