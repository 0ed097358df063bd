"""Operator statuses: what an operator chose in the header (or the API set), the time spent in
each, and going offline after inactivity or on sign-out.

    offline ──sign-in──▶ working ◀──chooser──▶ busy | break
       ▲                    │
       └──sign-out, inactivity (panel-set statuses only), chooser, API

``Operator.online`` mirrors "the status is a working one": only online operators receive new
chats (``core.team.routing``). A status set through the API stays until set otherwise; one set
in the panel ends after the company's ``inactivity_minutes`` without activity. Going offline
returns the operator's open chats to the queue when the company asks for it
(``requeue_on_offline``). Every change closes the operator's current ``StatusSpan`` and opens
the next one: the time per status that ``operator_events`` reports.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from atendo.core.companies.models import Company
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import DialogState, EventType, OperatorStatus, Role
from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.events.service import emit
from atendo.core.lengths import check_length, column_length
from atendo.core.operators.models import Operator
from atendo.core.operators.service import get_operator
from atendo.core.team.models import CustomStatus, StatusSpan
from atendo.kit.clock import iso, utcnow
from atendo.kit.db import get_scoped

ACTIVITY_GRANULARITY = timedelta(seconds=30)


def parse_status(value: str) -> str:
    """A status key as sent (checked against the company's statuses when set)."""
    return (value or "").strip().lower()


@dataclass(frozen=True)
class StatusChoice:
    key: str
    name: str  # "" for a built-in one: the panel names it in the operator's language
    working: bool
    builtin: bool


def list_statuses(session: Session, *, company_id: int) -> list[StatusChoice]:
    """The statuses an operator may choose: the built-in ones and the admin's, offline last."""
    builtin = [
        StatusChoice(s.value, "", s.working, True)
        for s in OperatorStatus
        if s is not OperatorStatus.OFFLINE
    ]
    custom = [
        StatusChoice(c.key, c.name, c.working, False)
        for c in session.scalars(
            select(CustomStatus)
            .where(CustomStatus.company_id == company_id)
            .order_by(CustomStatus.id)
        )
    ]
    return [*builtin, *custom, StatusChoice(OperatorStatus.OFFLINE.value, "", False, True)]


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")[: column_length(CustomStatus.key)]


def create_status(session: Session, *, company_id: int, name: str, working: bool) -> CustomStatus:
    """An admin's status ("Reunião", "Treinamento"…); its key is made from the name."""
    name = (name or "").strip()
    key = _slug(name)
    if not name or not key:
        raise Invalid("The status needs a name", {"name": ["required"]})
    check_length(CustomStatus.name, name)
    taken = {s.key for s in list_statuses(session, company_id=company_id)}
    if key in taken:
        raise Conflict("A status with this name already exists", {"name": ["taken"]})
    row = CustomStatus(company_id=company_id, key=key, name=name, working=working)
    session.add(row)
    session.flush()
    return row


def delete_status(session: Session, *, company_id: int, key: str) -> None:
    """Remove an admin's status; whoever is in it goes offline."""
    row = session.scalar(
        select(CustomStatus).where(CustomStatus.company_id == company_id, CustomStatus.key == key)
    )
    if row is None:
        raise NotFound("Status not found")
    for op_id in session.scalars(
        select(Operator.id).where(Operator.company_id == company_id, Operator.status == key)
    ):
        set_operator_status(
            session, company_id=company_id, operator_id=op_id, status=OperatorStatus.OFFLINE
        )
    session.delete(row)
    session.flush()


def set_operator_status(
    session: Session,
    *,
    company_id: int,
    operator_id: int,
    status: str,
    source: str = "panel",
) -> Operator:
    """The operator's status becomes ``status``, a built-in key or one of the company's
    (``source``: ``panel`` or ``api``)."""
    op = get_operator(session, company_id=company_id, operator_id=operator_id)
    choices = {c.key: c for c in list_statuses(session, company_id=company_id)}
    if status not in choices:
        keys = ", ".join(choices)
        raise Invalid(f"status must be one of {keys}", {"status": ["invalid"]})
    choice = choices[status]
    offline = status == OperatorStatus.OFFLINE
    now = utcnow()
    op.status_source = source
    if source == "panel":
        op.last_activity = now
    if op.status == status:
        session.flush()
        return op
    if not offline and op.role == Role.DISABLED:
        raise Invalid("A disabled operator cannot work", {"status": ["operator disabled"]})
    session.execute(
        update(StatusSpan)
        .where(
            StatusSpan.company_id == company_id,
            StatusSpan.operator_id == op.id,
            StatusSpan.ended.is_(None),
        )
        .values(ended=now)
    )
    if not offline:
        session.add(
            StatusSpan(company_id=company_id, operator_id=op.id, status=status, started=now)
        )
    op.status = status
    op.online = choice.working
    op.status_since = now
    session.flush()
    requeued: list[int] = []
    if offline:
        company = session.get(Company, company_id)
        if company is not None and company.requeue_on_offline:
            requeued = requeue_open_dialogs(session, company_id=company_id, operator_id=op.id)
    emit(
        session,
        company_id=company_id,
        type=EventType.OPERATOR_STATUS,
        payload={
            "operator_id": op.id,
            "status": op.status,
            "online": op.online,
            "requeued_dialog_ids": requeued,
        },
    )
    return op


def requeue_open_dialogs(session: Session, *, company_id: int, operator_id: int) -> list[int]:
    """The operator's open chats go back to the queue, each through ``assign_dialog`` (so the
    timeline and the webhooks say so)."""
    from atendo.core.dialogs.service import assign_dialog

    ids = list(
        session.scalars(
            select(Dialog.id)
            .where(
                Dialog.company_id == company_id,
                Dialog.operator_id == operator_id,
                Dialog.state == DialogState.OPEN,
            )
            .order_by(Dialog.id)
        )
    )
    now = utcnow()
    for dialog_id in ids:
        dialog = assign_dialog(
            session, company_id=company_id, dialog_id=dialog_id, operator_id=None, routed=True
        )
        dialog.queued_at = now
    session.flush()
    return ids


def note_activity(
    session: Session, *, company_id: int, operator_id: int, now: datetime | None = None
) -> bool:
    """The operator did something in the panel; written at most every 30 s. True if written."""
    now = now or utcnow()
    op = get_scoped(session, Operator, operator_id, company_id=company_id)
    if op is None:
        return False
    if op.last_activity is not None and now - op.last_activity < ACTIVITY_GRANULARITY:
        return False
    op.last_activity = now
    session.flush()
    return True


def expire_inactive(session: Session, *, now: datetime | None = None) -> list[int]:
    """Operators whose panel-set status outlived their company's inactivity timeout go
    offline; returns their ids."""
    now = now or utcnow()
    rows = session.execute(
        select(Operator.id, Operator.company_id, Operator.last_activity, Company.inactivity_minutes)
        .join(Company, Company.id == Operator.company_id)
        .where(
            Operator.status != OperatorStatus.OFFLINE.value,
            Operator.status_source == "panel",
            Company.inactivity_minutes > 0,
        )
    ).all()
    gone = []
    for op_id, company_id, last, minutes in rows:
        if last is None or now - last >= timedelta(minutes=minutes):
            set_operator_status(
                session,
                company_id=company_id,
                operator_id=op_id,
                status=OperatorStatus.OFFLINE,
                source="panel",
            )
            gone.append(op_id)
    return gone


def time_per_status(
    session: Session,
    *,
    company_id: int,
    since: datetime,
    until: datetime,
    operator_id: int | None = None,
) -> list[dict[str, Any]]:
    """Seconds each operator spent in each status within [since, until) (``operator_events``)."""
    stmt = select(StatusSpan).where(
        StatusSpan.company_id == company_id,
        StatusSpan.started < until,
        func.coalesce(StatusSpan.ended, until) > since,
    )
    if operator_id is not None:
        stmt = stmt.where(StatusSpan.operator_id == operator_id)
    totals: dict[tuple[int, str], float] = {}
    for span in session.scalars(stmt.order_by(StatusSpan.id)):
        start = max(span.started, since)
        end = min(span.ended or until, until)
        key = (span.operator_id, span.status)
        totals[key] = totals.get(key, 0.0) + max(0.0, (end - start).total_seconds())
    return [
        {"operator_id": op, "status": status, "seconds": int(seconds), "since": iso(since)}
        for (op, status), seconds in sorted(totals.items())
    ]
