"""Writing domain events into the outbox table, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from atendo.core.enums import EventType
from atendo.core.events.models import Event
from atendo.kit.clock import iso, utcnow

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


def emit_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Events for a batch (e.g. the sender's outcomes): one INSERT, no ORM objects, since
    nobody reads their ids back."""
    if rows:
        session.execute(insert(Event), list(rows))


def events_after(
    session: Session, *, company_id: int, after_id: int, limit: int = 100
) -> list[Event]:
    """Committed events newer than ``after_id`` (the panel's live stream reads this)."""
    stmt = (
        select(Event)
        .where(Event.company_id == company_id, Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def last_event_id(session: Session, *, company_id: int) -> int:
    stmt = select(Event.id).where(Event.company_id == company_id).order_by(Event.id.desc()).limit(1)
    return session.scalar(stmt) or 0
