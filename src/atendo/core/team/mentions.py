"""@mentions in internal notes: ``@ana`` (the login's local part, as the panel's autocomplete
writes it) or ``@Ana`` (the first name) names an operator of the company; each one named is
told (a ``mention`` event, shown by the panel as a notification)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.enums import EventType, Role
from atendo.core.events.service import emit
from atendo.core.messages.models import Message
from atendo.core.operators.models import Operator

_MENTION = re.compile(r"(?<![\w@])@([\w][\w.\-]*)", re.UNICODE)


def handle(op: Operator) -> str:
    """What the autocomplete writes after ``@`` for this operator."""
    return op.email.split("@", 1)[0]


def mentioned_operators(session: Session, *, company_id: int, text: str) -> list[int]:
    words = {w.rstrip(".-").lower() for w in _MENTION.findall(text or "")}
    if not words:
        return []
    ops = session.scalars(
        select(Operator).where(Operator.company_id == company_id, Operator.role != Role.DISABLED)
    )
    return sorted(
        op.id
        for op in ops
        if handle(op).lower() in words or (op.first_name and op.first_name.lower() in words)
    )


def announce_mentions(session: Session, *, message: Message) -> list[int]:
    """Tell the operators an internal note names (not its author)."""
    ids = [
        i
        for i in mentioned_operators(session, company_id=message.company_id, text=message.text)
        if i != message.operator_id
    ]
    if ids:
        emit(
            session,
            company_id=message.company_id,
            type=EventType.MENTION,
            payload={
                "operator_ids": ids,
                "message_id": message.id,
                "dialog_id": message.dialog_id,
                "by_operator_id": message.operator_id,
            },
            channel_id=message.channel_id,
            dialog_id=message.dialog_id,
        )
    return ids
