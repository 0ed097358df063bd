"""Writing domain events into the outbox table, in the caller's transaction.

Writing one also notifies :data:`TOPIC` with the company's id (:mod:`atendo.kit.wake`: at
commit, once per transaction and company; a rollback sends nothing): the panel's live streams
of that company and the event dispatcher, in every process, read at once instead of on a
timer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, func, insert, select
from sqlalchemy.orm import Session

from atendo.core.enums import EventType
from atendo.core.events.models import Event
from atendo.kit.clock import iso, utcnow
from atendo.kit.db import delete_selected
from atendo.kit.wake import notify

TOPIC = "atendo_events"  # payload: the company id

# The events automation reacts to (atendo.core.automation.engine).
AUTOMATION_TRIGGERS = frozenset({EventType.INBOX, EventType.CLOSE_DIALOG})


def emit(
    session: Session,
    *,
    company_id: int,
    type: EventType,
    payload: dict[str, Any],
    channel_id: int | None = None,
    dialog_id: int | None = None,
) -> Event:
    event = Event(
        **event_row(
            company_id=company_id,
            type=type,
            payload=payload,
            channel_id=channel_id,
            dialog_id=dialog_id,
        )
    )
    session.add(event)
    session.flush()
    notify(session, TOPIC, str(company_id))
    return event


def signal_typing(
    session: Session,
    *,
    company_id: int,
    channel_id: int,
    dialog_id: int,
    client_id: int | None,
    by: str,
    name: str = "",
) -> None:
    """Someone (``by``: "operator" or "client") is typing in a dialog: a ``typing`` event for
    the panel's live stream and a live chat's visitor (never a webhook)."""
    emit(
        session,
        company_id=company_id,
        type=EventType.TYPING,
        payload={"dialog_id": dialog_id, "client_id": client_id, "by": by, "name": name[:100]},
        channel_id=channel_id,
        dialog_id=dialog_id,
    )


def event_row(
    *,
    company_id: int,
    type: EventType,
    payload: dict[str, Any],
    channel_id: int | None = None,
    dialog_id: int | None = None,
) -> dict[str, Any]:
    """The columns of one event; :func:`emit_rows` writes many with a single INSERT."""
    now = utcnow()
    return {
        "company_id": company_id,
        "type": type.value,
        "payload": {"hook_type": type.value, "event_time": iso(now), **payload},
        "channel_id": channel_id,
        "dialog_id": dialog_id,
        "dispatched": False,
        "created": now,
        "automation_due": now if type in AUTOMATION_TRIGGERS else None,
    }


_EVENTS: Table = Event.__table__  # type: ignore[assignment]  # a mapped class's own table


def emit_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Events for a batch (e.g. the sender's outcomes): one INSERT, no ORM objects, since
    nobody reads their ids back."""
    if rows:
        # Into the table, not the ORM entity: the ORM's bulk INSERT leaves out each row's
        # None columns and sends one statement per run of rows with the same columns (a
        # batch's new_client, inbox and new_request rows alternate); the table takes them
        # all as one statement (every row of event_row has the same keys).
        session.execute(insert(_EVENTS), list(rows))
        for company_id in {row["company_id"] for row in rows}:
            notify(session, TOPIC, str(company_id))


# Ids are taken before commit on PostgreSQL: a transaction that commits late shows an id below
# ones a reader has already passed. A reader therefore looks again at a window of ids behind its
# cursor and skips those it has seen. SQLite has one writer at a time: ids appear in order.
LOOKBACK = 200


@dataclass
class ReadWindow:
    """Where a reader of the events table is: the highest id read and, on PostgreSQL
    (``lookback`` > 0), the ids read within ``lookback`` of it. :meth:`unread` is the condition
    on ``Event.id`` for what is not read yet (late commits behind the cursor included, those
    read skipped by the database); :meth:`passed` records what a read returned. The panel's
    live stream (:class:`EventCursor`, one company) and the widget's hub (several channels of
    any company, in one query) read through it."""

    last: int
    lookback: int = 0
    seen: dict[int, None] = field(default_factory=dict)

    def unread(self) -> list[ColumnElement[bool]]:
        low = max(0, self.last - self.lookback)
        conditions = [Event.id > low]
        skip = [i for i in self.seen if i > low]
        if skip:
            conditions.append(Event.id.not_in(skip))
        return conditions

    def passed(self, ids: Sequence[int]) -> None:
        """These ids were read: the cursor moves past the highest, and the window keeps the ids
        read within ``lookback`` of it."""
        if ids:
            self.last = max(self.last, *ids)
        if self.lookback:
            floor = self.last - self.lookback
            self.seen = {i: None for i in [*self.seen, *ids] if i > floor}


@dataclass
class EventCursor(ReadWindow):
    """Where a reader of one company's events is (the panel's live stream)."""

    @classmethod
    def at_end(cls, session: Session, *, company_id: int, lookback: int) -> EventCursor:
        """A cursor past every event committed now (those within the window counted as read,
        so only what commits from now on is read)."""
        last = last_event_id(session, company_id=company_id)
        cursor = cls(last, lookback)
        if lookback:
            ids = session.scalars(
                select(Event.id).where(Event.company_id == company_id, Event.id > last - lookback)
            )
            cursor.seen = dict.fromkeys(ids)
        return cursor

    def read(self, session: Session, *, company_id: int, limit: int = 100) -> list[Event]:
        """The committed events not read yet, in id order (late commits behind the cursor
        included), at most ``limit``; the cursor moves past them."""
        stmt = select(Event).where(Event.company_id == company_id, *self.unread())
        rows = list(session.scalars(stmt.order_by(Event.id).limit(limit)))
        self.passed([e.id for e in rows])
        return rows


def last_event_id(session: Session, *, company_id: int) -> int:
    stmt = select(Event.id).where(Event.company_id == company_id).order_by(Event.id.desc()).limit(1)
    return session.scalar(stmt) or 0


PRUNE_BATCH = 5000


def prune_events(session: Session, *, older_than: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` events that every consumer is done with; returns how many.

    An event is done once dispatched (its webhook deliveries carry their own copy of the
    payload), once no automation still owes it a reaction (``automation_due`` cleared by
    ``core.automation.engine``), and older than the retention (the panel's live stream reads
    only the newest).
    The newest event of all is always kept: SQLite hands out ``max(id) + 1``, and an id that
    came back would be a second ``evt_<id>`` to a webhook receiver that deduplicates by it.
    The caller commits; run again until it returns less than ``batch``."""
    newest = select(func.max(Event.id)).scalar_subquery()
    doomed = (
        select(Event.id)
        .where(
            Event.dispatched.is_(True),
            Event.automation_due.is_(None),
            Event.created < older_than,
            Event.id < newest,
        )
        .order_by(Event.id)
        .limit(batch)
    )
    return delete_selected(session, Event, doomed)
