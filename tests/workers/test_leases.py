"""Leases and fair shares in the database (SQLite and PostgreSQL): the fencing token stops a
worker that lost its lease, renewals keep only what is still ours, shares follow live workers."""

from __future__ import annotations

from datetime import datetime, timedelta

from atendo.core.leases.service import (
    beat,
    fair_share,
    holds_lease,
    live_workers,
    release_leases,
    renew_leases,
    take_leases,
)
from atendo.runtime import Runtime
from tests.conftest import CompanyFixture
from tests.factories import email_channel
from tests.workers.conftest import T0


def test_a_taken_over_lease_fences_its_old_holder_out(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    channel_id = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        (a_token,) = take_leases(
            session, worker_id="a", channel_ids=[channel_id], seconds=20
        ).values()
        assert take_leases(session, worker_id="b", channel_ids=[channel_id], seconds=20) == {}
        assert holds_lease(session, channel_id=channel_id, worker_id="a", token=a_token)
    clock[0] = T0 + timedelta(seconds=21)  # a missed its renewals: the lease expired
    with runtime.db.transaction() as session:
        assert renew_leases(session, worker_id="a", held={channel_id: a_token}, seconds=20) == set()
        taken = take_leases(session, worker_id="b", channel_ids=[channel_id], seconds=20)
        assert taken == {channel_id: a_token + 1}
    with runtime.db.transaction() as session:
        assert not holds_lease(session, channel_id=channel_id, worker_id="a", token=a_token)
        assert holds_lease(session, channel_id=channel_id, worker_id="b", token=a_token + 1)
        # b's lease is its own: a cannot renew or release it.
        assert renew_leases(session, worker_id="a", held={channel_id: a_token}, seconds=20) == set()
        release_leases(session, worker_id="a", channel_ids=[channel_id])
        assert renew_leases(session, worker_id="b", held={channel_id: a_token + 1}, seconds=20) == {
            channel_id
        }


def test_a_released_lease_is_free_for_the_next_worker(
    runtime: Runtime, company: CompanyFixture, clock: list[datetime]
) -> None:
    channel_id = email_channel(runtime, company.id)
    with runtime.db.transaction() as session:
        token = take_leases(session, worker_id="a", channel_ids=[channel_id], seconds=20)
        release_leases(session, worker_id="a", channel_ids=[channel_id])
        taken = take_leases(session, worker_id="b", channel_ids=[channel_id], seconds=20)
        assert taken == {channel_id: token[channel_id] + 1}


def test_fair_shares_follow_the_live_workers(runtime: Runtime, clock: list[datetime]) -> None:
    with runtime.db.transaction() as session:
        beat(session, worker_id="w1")
        beat(session, worker_id="w2")
    clock[0] = T0 + timedelta(seconds=10)
    with runtime.db.transaction() as session:
        beat(session, worker_id="w2")
        assert live_workers(session, lapse=timedelta(seconds=15)) == ["w1", "w2"]
    clock[0] = T0 + timedelta(seconds=16)
    with runtime.db.transaction() as session:
        assert live_workers(session, lapse=timedelta(seconds=15)) == ["w2"]
    assert [fair_share(200, n) for n in (0, 1, 2, 3)] == [200, 200, 100, 67]
