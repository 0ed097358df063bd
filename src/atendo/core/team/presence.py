"""Who is on a chat now ("Ana está vendo" / "Ana está digitando").

The panel refreshes its operator's row about every second while a chat is open (``viewing``,
or ``typing`` while the composer changes) and deletes it on leaving; a row not refreshed for
``FRESH`` is gone (a closed laptop leaves no ghost). Rows live in the database, so every
process serving the panel sees the same presence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from atendo.core.operators.models import Operator
from atendo.core.team.models import ChatPresence
from atendo.kit.clock import utcnow

FRESH = timedelta(seconds=4)
STATES = ("viewing", "typing")


@dataclass(frozen=True)
class Presence:
    operator_id: int
    name: str
    state: str


def see_chat(
    session: Session,
    *,
    company_id: int,
    dialog_id: int,
    operator_id: int,
    state: str = "viewing",
    now: datetime | None = None,
) -> None:
    """The operator is on the chat (one upsert; the caller checked they may see it)."""
    values = {
        "company_id": company_id,
        "dialog_id": dialog_id,
        "operator_id": operator_id,
        "state": state if state in STATES else "viewing",
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


def leave_chat(session: Session, *, company_id: int, dialog_id: int, operator_id: int) -> None:
    session.execute(
        delete(ChatPresence).where(
            ChatPresence.company_id == company_id,
            ChatPresence.dialog_id == dialog_id,
            ChatPresence.operator_id == operator_id,
        )
    )


def others_on_chat(
    session: Session,
    *,
    company_id: int,
    dialog_id: int,
    operator_id: int,
    now: datetime | None = None,
) -> list[Presence]:
    """The other operators on the chat now, typing ones first, then by name."""
    since = (now or utcnow()) - FRESH
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
    out = [Presence(op_id, op.full_name, state) for op_id, state, op in rows]
    return sorted(out, key=lambda p: (p.state != "typing", p.name.lower()))
