"""Workers that share and recover: heartbeats, fair shares and channel leases with a fence.

Every worker process registers a row in ``workers`` and renews its ``heartbeat`` every few
seconds (:func:`beat`); a worker whose heartbeat is older than the lapse is dead, and what it
held is taken over (leases expire; its outbox claims are requeued by
:func:`atendo.core.messages.outbox.requeue_claims_of_lapsed_workers`).

A channel's background session (an e-mail channel's IMAP sync) is held by one worker at a
time through its lease (``Channel.lease_owner``, ``lease_until``, ``lease_token``):

* :func:`take_leases` — free or expired leases become ours in one conditional UPDATE, and each
  taken lease gets a new **fencing token** (``lease_token + 1``);
* :func:`renew_leases` — extends the leases we still hold (same owner, same token, not yet
  expired); a lease missing from the answer is lost and its session must stop at once;
* :func:`release_leases` — gives leases back (a clean stop, or more than our fair share);
* :func:`holds_lease` — the fence: called inside the transaction that commits a channel's
  progress (e.g. a folder's last UID), it locks the channel row and checks that we still hold
  the lease with the same token. A worker that lost its lease — even one that does not know
  it yet — can then never commit over its successor.

The lease lasts at least three renewal intervals (:class:`LeaseTimes`), so a renewal delayed
by a busy machine does not lose it. :func:`fair_share` is how many channels one worker may
hold: ``ceil(channels / live workers)``; a worker holding more releases the extra.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.enums import ChannelStatus
from atendo.core.leases.models import Worker
from atendo.kit.clock import utcnow


@dataclass(frozen=True)
class LeaseTimes:
    """How long a lease lasts and how often it is renewed (and the heartbeat beats)."""

    lease: float = 30.0
    renew: float = 7.5

    def __post_init__(self) -> None:
        if self.lease < 3 * self.renew:
            raise ValueError("a lease must last at least three renewal intervals")

    @property
    def lapse(self) -> timedelta:
        """A worker whose heartbeat is older than this is dead (two beats missed, and more)."""
        return timedelta(seconds=max(3 * self.renew, 1.0))

    @classmethod
    def from_lease(cls, lease: float) -> LeaseTimes:
        return cls(lease=lease, renew=lease / 4)


# --- workers ---------------------------------------------------------------------------------


def beat(session: Session, *, worker_id: str, now: datetime | None = None) -> None:
    """Register the worker, or renew its heartbeat."""
    now = now or utcnow()
    row = session.get(Worker, worker_id)
    if row is None:
        session.add(Worker(id=worker_id, started=now, heartbeat=now))
    else:
        row.heartbeat = now
    session.flush()


def forget_worker(session: Session, *, worker_id: str) -> None:
    """A clean stop: the worker is gone at once (the others' fair share grows now)."""
    session.execute(delete(Worker).where(Worker.id == worker_id))


def live_workers(session: Session, *, lapse: timedelta, now: datetime | None = None) -> list[str]:
    cutoff = (now or utcnow()) - lapse
    stmt = select(Worker.id).where(Worker.heartbeat >= cutoff).order_by(Worker.id)
    return list(session.scalars(stmt))


def prune_workers(session: Session, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Rows of workers dead for long (their claims were requeued long ago)."""
    result = session.execute(delete(Worker).where(Worker.heartbeat < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def fair_share(channels: int, live: int) -> int:
    """How many of ``channels`` one of ``live`` workers may hold."""
    return math.ceil(channels / max(live, 1))


# --- leases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseView:
    """A channel as the lease scan sees it."""

    channel_id: int
    owner: str | None
    until: datetime | None
    reconnect: bool

    def free(self, now: datetime) -> bool:
        return self.owner is None or self.until is None or self.until < now


def lease_views(session: Session, *, transport: str) -> list[LeaseView]:
    """Every company's live channels of a transport with their lease (the workers' scan)."""
    stmt = (
        select(Channel.id, Channel.lease_owner, Channel.lease_until, Channel.reconnect_requested)
        .where(
            Channel.transport == transport,
            Channel.deleted.is_(False),
            Channel.status != ChannelStatus.DISABLED,
        )
        .order_by(Channel.id)
    )
    return [LeaseView(*row) for row in session.execute(stmt)]


def take_leases(
    session: Session,
    *,
    worker_id: str,
    channel_ids: Collection[int],
    seconds: float,
    now: datetime | None = None,
) -> dict[int, int]:
    """Take the free or expired leases among ``channel_ids`` (or ours, again); each gets a new
    fencing token. Returns channel id → token for the leases taken."""
    if not channel_ids:
        return {}
    now = now or utcnow()
    rows = session.execute(
        update(Channel)
        .where(
            Channel.id.in_(list(channel_ids)),
            (Channel.lease_owner.is_(None))
            | (Channel.lease_until.is_(None))
            | (Channel.lease_until < now)
            | (Channel.lease_owner == worker_id),
        )
        .values(
            lease_owner=worker_id,
            lease_until=now + timedelta(seconds=seconds),
            lease_token=Channel.lease_token + 1,
        )
        .returning(Channel.id, Channel.lease_token)
        .execution_options(synchronize_session=False)
    ).all()
    return {int(cid): int(token) for cid, token in rows}


def renew_leases(
    session: Session,
    *,
    worker_id: str,
    held: dict[int, int],
    seconds: float,
    now: datetime | None = None,
) -> set[int]:
    """Extend the leases we hold (same owner and token, not expired); returns the channel ids
    still ours. Any other one is lost: its session must stop at once."""
    if not held:
        return set()
    now = now or utcnow()
    rows = session.execute(
        update(Channel)
        .where(
            Channel.id.in_(list(held)),
            Channel.lease_owner == worker_id,
            Channel.lease_until >= now,
        )
        .values(lease_until=now + timedelta(seconds=seconds))
        .returning(Channel.id, Channel.lease_token)
        .execution_options(synchronize_session=False)
    ).all()
    return {int(cid) for cid, token in rows if held.get(int(cid)) == int(token)}


def release_leases(session: Session, *, worker_id: str, channel_ids: Sequence[int]) -> None:
    if not channel_ids:
        return
    session.execute(
        update(Channel)
        .where(Channel.id.in_(list(channel_ids)), Channel.lease_owner == worker_id)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def holds_lease(session: Session, *, channel_id: int, worker_id: str, token: int) -> bool:
    """The fence, inside the transaction that commits a channel's progress: locks the channel
    row (PostgreSQL; SQLite's write transaction is exclusive already), so a take-over waits
    for this commit, and says whether the lease is still ours with the same token."""
    stmt = select(Channel.lease_owner, Channel.lease_token).where(Channel.id == channel_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    return row is not None and row[0] == worker_id and int(row[1]) == token


def leases_held(session: Session, *, transport: str) -> dict[str, int]:
    """Owner → how many live channels of the transport it holds (tests, monitoring)."""
    stmt = (
        select(Channel.lease_owner, func.count())
        .where(
            Channel.transport == transport,
            Channel.deleted.is_(False),
            Channel.lease_owner.is_not(None),
            Channel.lease_until >= utcnow(),
        )
        .group_by(Channel.lease_owner)
    )
    return {str(owner): int(n) for owner, n in session.execute(stmt)}
