"""Routing: handing new chats to online operators.

A client's new request in a dialog nobody has puts the dialog in the queue (``queued_at``,
set by ``core.messages.inbound``); a transfer to a group does the same. :func:`route_queue`
walks a company's queue oldest first and gives each dialog to one candidate:

* the dialog's group, else its channel's default group, else every operator of the company;
* of those, the online ones (a working status), not disabled, not marked "new chats
  unavailable", with fewer open chats than their ``max_open_dialogs`` (None: no limit);
* picked by the group's rule: ``least_busy`` (fewest open chats, then the highest skill, then
  the lowest id), ``most_skilled`` (highest skill, ties by load) or ``probability`` (at random,
  weighted by skill). Without a group every skill counts as 50.

A dialog nobody can take stays queued, and the next round (the worker's loop, every fraction
of a second) hands it out as soon as someone comes online or frees a slot.

RACE-FREE: one round per company at a time. On PostgreSQL the round takes a transaction-level
advisory lock on the company (``pg_try_advisory_xact_lock``; a worker that does not get it
skips the company this round), so two workers never count the same loads or take the same
dialog; on SQLite a writing transaction holds the database's write lock (``BEGIN IMMEDIATE``)
from its start. A round's assignments are written together (``assign_routed``: the same
timeline lines and ``dialog_transferred`` events as ``assign_dialog``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import assign_dialog, assign_routed
from atendo.core.enums import DialogState, GroupRule, Role
from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.operators.models import GroupMember, Operator, OperatorGroup
from atendo.kit.db import get_scoped

LOCK_NAMESPACE = 0x7465616D  # "team": the first key of the advisory lock, the company the second
DEFAULT_SKILL = 50


@dataclass
class Candidate:
    operator_id: int
    skill: int
    load: int
    limit: int | None

    @property
    def free(self) -> bool:
        return self.limit is None or self.load < self.limit


def choose(rule: str, candidates: list[Candidate], rng: random.Random) -> Candidate | None:
    """The operator a new chat goes to, by the group's rule (None: nobody is free)."""
    free = [c for c in candidates if c.free]
    if not free:
        return None
    if rule == GroupRule.MOST_SKILLED:
        return min(free, key=lambda c: (-c.skill, c.load, c.operator_id))
    if rule == GroupRule.PROBABILITY:
        return rng.choices(free, weights=[max(1, c.skill) for c in free], k=1)[0]
    return min(free, key=lambda c: (c.load, -c.skill, c.operator_id))


def _lock_company(session: Session, company_id: int) -> bool:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return True  # SQLite: the writing transaction already holds the write lock
    got = session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_NAMESPACE, company_id)))
    return bool(got)


def _online_operators(session: Session, company_id: int) -> dict[int, Operator]:
    rows = session.scalars(
        select(Operator).where(
            Operator.company_id == company_id,
            Operator.online.is_(True),
            Operator.role != Role.DISABLED,
            Operator.new_chats_unavailable.is_(False),
        )
    )
    return {op.id: op for op in rows}


def _loads(session: Session, company_id: int) -> dict[int, int]:
    rows = session.execute(
        select(Dialog.operator_id, func.count(Dialog.id))
        .where(
            Dialog.company_id == company_id,
            Dialog.state == DialogState.OPEN,
            Dialog.operator_id.is_not(None),
        )
        .group_by(Dialog.operator_id)
    ).all()
    return {int(op): int(n) for op, n in rows if op is not None}


def route_queue(
    session: Session,
    *,
    company_id: int,
    limit: int = 500,
    rng: random.Random | None = None,
) -> list[tuple[int, int]]:
    """One routing round for the company; returns the (dialog id, operator id) handed out."""
    if not _lock_company(session, company_id):
        return []
    queued = list(
        session.scalars(
            select(Dialog)
            .where(
                Dialog.company_id == company_id,
                Dialog.queued_at.is_not(None),
                Dialog.operator_id.is_(None),
                Dialog.state == DialogState.OPEN,
            )
            .order_by(Dialog.queued_at, Dialog.id)
            .limit(limit)
        )
    )
    if not queued:
        return []
    online = _online_operators(session, company_id)
    if not online:
        return []
    rng = rng or random.Random()
    loads = _loads(session, company_id)
    pools: dict[int | None, tuple[str, list[Candidate]]] = {}
    everyone = {
        op_id: Candidate(op_id, DEFAULT_SKILL, loads.get(op_id, 0), op.max_open_dialogs)
        for op_id, op in online.items()
    }

    def pool(group_id: int | None) -> tuple[str, list[Candidate]]:
        if group_id not in pools:
            if group_id is None:
                pools[None] = (GroupRule.LEAST_BUSY.value, list(everyone.values()))
            else:
                group = get_scoped(session, OperatorGroup, group_id, company_id=company_id)
                members = session.scalars(
                    select(GroupMember).where(
                        GroupMember.company_id == company_id, GroupMember.group_id == group_id
                    )
                )
                cands = []
                for m in members:
                    base = everyone.get(m.operator_id)
                    if base is not None:
                        # Loads are shared between pools: one Candidate per operator and group,
                        # updated together below.
                        cands.append(Candidate(m.operator_id, m.skill, base.load, base.limit))
                pools[group_id] = (group.rule if group else GroupRule.LEAST_BUSY.value, cands)
        return pools[group_id]

    channel_groups: dict[int, int | None] = {}
    handed: list[tuple[int, int]] = []
    chosen_for: list[tuple[Dialog, int]] = []
    for dialog in queued:
        group_id = dialog.group_id
        if group_id is None:
            if dialog.channel_id not in channel_groups:
                channel = get_scoped(session, Channel, dialog.channel_id, company_id=company_id)
                channel_groups[dialog.channel_id] = channel.group_id if channel else None
            group_id = channel_groups[dialog.channel_id]
        rule, cands = pool(group_id)
        chosen = choose(rule, cands, rng)
        if chosen is None:
            continue
        chosen_for.append((dialog, chosen.operator_id))
        for _rule, others in pools.values():
            for c in others:
                if c.operator_id == chosen.operator_id:
                    c.load += 1
        everyone[chosen.operator_id].load = chosen.load
        handed.append((dialog.id, chosen.operator_id))
    assign_routed(session, company_id=company_id, pairs=chosen_for)
    return handed


def companies_with_queue(session: Session) -> list[int]:
    """Companies that have dialogs waiting for the router and someone online to take them."""
    waiting = (
        select(Dialog.company_id)
        .where(
            Dialog.queued_at.is_not(None),
            Dialog.operator_id.is_(None),
            Dialog.state == DialogState.OPEN,
        )
        .distinct()
    )
    online = select(Operator.company_id).where(Operator.online.is_(True)).distinct()
    return sorted(set(session.scalars(waiting)) & set(session.scalars(online)))


def transfer_dialog(
    session: Session,
    *,
    company_id: int,
    dialog_id: int,
    operator_id: int | None = None,
    group_id: int | None = None,
    comment: str = "",
    by_operator_id: int | None = None,
    force: bool = True,
    rng: random.Random | None = None,
) -> Dialog:
    """Transfer a dialog to an operator or to a group, with an optional comment.

    To an operator: without ``force`` an offline operator, or one at their limit of open
    chats, is refused (409). To a group: the dialog waits in the queue for the group's online
    members (the router's next round); with ``force`` it goes at once to the member the
    group's rule picks, online or not, limits aside."""
    if operator_id is not None:
        op = session.scalar(
            select(Operator).where(Operator.company_id == company_id, Operator.id == operator_id)
        )
        if op is None:
            raise NotFound("Operator not found")
        if not force:
            if not op.online:
                raise Conflict("The operator is offline", {"operator_id": ["offline"]})
            load = _loads(session, company_id).get(op.id, 0)
            if op.max_open_dialogs is not None and load >= op.max_open_dialogs:
                raise Conflict(
                    "The operator has reached their limit of open chats",
                    {"operator_id": ["at limit"]},
                )
        return assign_dialog(
            session,
            company_id=company_id,
            dialog_id=dialog_id,
            operator_id=operator_id,
            comment=comment,
            by_operator_id=by_operator_id,
        )
    if group_id is None:
        raise Invalid("operator_id or group_id is required", {"operator_id": ["required"]})
    dialog = assign_dialog(
        session,
        company_id=company_id,
        dialog_id=dialog_id,
        group_id=group_id,
        comment=comment,
        by_operator_id=by_operator_id,
    )
    if force and dialog.state == DialogState.OPEN:
        group = get_scoped(session, OperatorGroup, group_id, company_id=company_id)
        loads = _loads(session, company_id)
        members = session.execute(
            select(GroupMember.operator_id, GroupMember.skill)
            .join(
                Operator,
                (Operator.company_id == GroupMember.company_id)
                & (Operator.id == GroupMember.operator_id),
            )
            .where(
                GroupMember.company_id == company_id,
                GroupMember.group_id == group_id,
                Operator.role != Role.DISABLED,
            )
        ).all()
        cands = [Candidate(op_id, skill, loads.get(op_id, 0), None) for op_id, skill in members]
        chosen = choose(group.rule if group else "", cands, rng or random.Random())
        if chosen is not None:
            dialog = assign_dialog(
                session,
                company_id=company_id,
                dialog_id=dialog_id,
                operator_id=chosen.operator_id,
                routed=True,
            )
    return dialog
