"""Who is on a chat now ("Ana está vendo" / "Ana está digitando").

The panel tells the server when its operator opens a chat (``viewing``), starts or stops
typing (``typing`` / ``viewing``) and leaves it (the row is deleted), and otherwise only
refreshes the row now and then (``panel_presence_keepalive``); a row not refreshed for
:func:`fresh_for` that interval is gone (a closed laptop leaves no ghost). Rows live in the
database, so every process serving the panel sees the same presence.

A change (a new row, another state, a row deleted) wakes the listeners of :data:`TOPIC` once
its transaction commits (:mod:`atendo.kit.wake`: LISTEN/NOTIFY across ``atendo serve``
processes on PostgreSQL, in-process on SQLite): the panel's live streams push it to the other
operators on the chat (``atendo.panel.presence``). A keep-alive that changes nothing wakes
nobody.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from atendo.core.dialogs.models import Dialog
from atendo.core.operators.models import Operator
from atendo.core.team.models import ChatPresence
from atendo.kit.clock import utcnow
from atendo.kit.wake import notify

TOPIC = "atendo_presence"
STATES = ("viewing", "typing")


def fresh_for(keepalive: float) -> timedelta:
    """How long a row stands without a refresh: two keep-alives and a half (one may be late)."""
    return timedelta(seconds=2.5 * keepalive)


@dataclass(frozen=True)
class Presence:
    operator_id: int
    name: str
    state: str


@dataclass(frozen=True)
class Seen:
    """One fresh row, as the live streams' hub reads them: who, where, doing what, and the
    dialog's assignee (whether a reader may see the chat)."""

    company_id: int
    dialog_id: int
    operator_id: int
    name: str
    state: str
    seen_at: datetime
    assignee_id: int | None


def see_chat(
    session: Session,
    *,
    company_id: int,
    dialog_id: int,
    operator_id: int,
    state: str = "viewing",
    now: datetime | None = None,
) -> bool:
    """The operator is on the chat (one upsert; the caller checked they may see it). True
    when that is news (they were not there, or did something else): then the others learn
    it once this transaction commits."""
    state = state if state in STATES else "viewing"
    before = session.scalar(
        select(ChatPresence.state).where(
            ChatPresence.company_id == company_id,
            ChatPresence.dialog_id == dialog_id,
            ChatPresence.operator_id == operator_id,
        )
    )
    values = {
        "company_id": company_id,
        "dialog_id": dialog_id,
        "operator_id": operator_id,
        "state": state,
        "seen_at": now or utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ChatPresence).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["dialog_id", "operator_id"],
        set_={"state": stmt.excluded.state, "seen_at": stmt.excluded.seen_at},
    )
    session.execute(stmt)
    if before == state:
        return False
    notify(session, TOPIC)
    return True


def leave_chat(session: Session, *, company_id: int, dialog_id: int, operator_id: int) -> bool:
    """The operator left the chat; True (and the others learn it) when they were there."""
    gone = session.execute(
        delete(ChatPresence).where(
            ChatPresence.company_id == company_id,
            ChatPresence.dialog_id == dialog_id,
            ChatPresence.operator_id == operator_id,
        )
    )
    if not getattr(gone, "rowcount", 0):
        return False
    notify(session, TOPIC)
    return True


def others_on_chat(
    session: Session,
    *,
    company_id: int,
    dialog_id: int,
    operator_id: int,
    fresh: timedelta,
    now: datetime | None = None,
) -> list[Presence]:
    """The other operators on the chat now, typing ones first, then by name."""
    since = (now or utcnow()) - fresh
    rows = session.execute(
        select(ChatPresence.operator_id, ChatPresence.state, Operator)
        .join(
            Operator,
            (Operator.company_id == ChatPresence.company_id)
            & (Operator.id == ChatPresence.operator_id),
        )
        .where(
            ChatPresence.company_id == company_id,
            ChatPresence.dialog_id == dialog_id,
            ChatPresence.operator_id != operator_id,
            ChatPresence.seen_at >= since,
        )
    ).all()
    return in_order([Presence(op_id, op.full_name, state) for op_id, state, op in rows])


def in_order(found: list[Presence]) -> list[Presence]:
    """Typing ones first, then by name."""
    return sorted(found, key=lambda p: (p.state != "typing", p.name.lower(), p.operator_id))


def fresh_rows(session: Session, *, company_ids: Collection[int], since: datetime) -> list[Seen]:
    """Every row refreshed since ``since`` in these companies (one read for a whole process's
    live streams: a row per operator on a chat, a small table)."""
    if not company_ids:
        return []
    rows = session.execute(
        select(ChatPresence, Operator, Dialog.operator_id)
        .join(
            Operator,
            (Operator.company_id == ChatPresence.company_id)
            & (Operator.id == ChatPresence.operator_id),
        )
        .join(
            Dialog,
            (Dialog.company_id == ChatPresence.company_id) & (Dialog.id == ChatPresence.dialog_id),
        )
        .where(ChatPresence.company_id.in_(sorted(company_ids)), ChatPresence.seen_at >= since)
    ).all()
    return [
        Seen(p.company_id, p.dialog_id, p.operator_id, op.full_name, p.state, p.seen_at, assignee)
        for p, op, assignee in rows
    ]


def forget_stale(session: Session, *, company_ids: Collection[int], before: datetime) -> int:
    """Delete the rows nobody refreshed since ``before`` (they already count as gone)."""
    if not company_ids:
        return 0
    gone = session.execute(
        delete(ChatPresence).where(
            ChatPresence.company_id.in_(sorted(company_ids)), ChatPresence.seen_at < before
        )
    )
    return int(getattr(gone, "rowcount", 0) or 0)
