"""Server-side panel sessions: opened at sign-in, ended by sign-out, a password change, or the
operator being disabled or deleted.

The cookie holds a random token and the table only its SHA-256 (``kit.crypto.hash_token``), as
for API tokens. ``last_seen`` is written at most once per ``TOUCH_EVERY`` so that reading a
page stays a read (SQLite's write lock is taken once a minute per session, not per request).
Expiry is absolute: a session lives ``LIFETIME`` from sign-in, however busy it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from atendo.core.enums import Role
from atendo.core.errors import NotFound
from atendo.core.operators.models import Operator, PanelSession
from atendo.kit.clock import utcnow
from atendo.kit.crypto import hash_token, new_token
from atendo.kit.db import get_scoped

LIFETIME = timedelta(days=14)
TOUCH_EVERY = timedelta(minutes=1)
_MAX_TOKEN = 200
_MAX_USER_AGENT = 300


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the token goes into the cookie and is never stored."""

    token: str
    id: int
    expires: datetime


@dataclass(frozen=True)
class LiveSession:
    """A valid session and its operator, as read at the start of a request."""

    id: int
    operator: Operator
    last_seen: datetime
    expires: datetime


def open_session(
    session: Session, *, operator: Operator, user_agent: str = "", lifetime: timedelta = LIFETIME
) -> OpenedSession:
    now = utcnow()
    _purge_expired(session, operator=operator, now=now)
    token = new_token()
    row = PanelSession(
        company_id=operator.company_id,
        operator_id=operator.id,
        token_hash=hash_token(token),
        user_agent=user_agent[:_MAX_USER_AGENT],
        created=now,
        last_seen=now,
        expires=now + lifetime,
    )
    session.add(row)
    session.flush()
    return OpenedSession(token=token, id=row.id, expires=row.expires)


def find_session(session: Session, *, token: str) -> LiveSession | None:
    """The session of a cookie token, or None when unknown, expired or its operator disabled."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    found = session.execute(
        select(PanelSession, Operator)
        .join(
            Operator,
            (Operator.company_id == PanelSession.company_id)
            & (Operator.id == PanelSession.operator_id),
        )
        .where(PanelSession.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    row, operator = found
    if row.expires <= utcnow() or operator.role == Role.DISABLED:
        return None
    if operator.company_id != row.company_id:
        return None
    return LiveSession(id=row.id, operator=operator, last_seen=row.last_seen, expires=row.expires)


def session_alive(session: Session, *, company_id: int, session_id: int) -> bool:
    """Whether a session read earlier still stands (long-lived streams ask it now and then)."""
    stmt = select(PanelSession.id).where(
        PanelSession.company_id == company_id,
        PanelSession.id == session_id,
        PanelSession.expires > utcnow(),
    )
    return session.scalar(stmt) is not None


def needs_touch(live: LiveSession) -> bool:
    return utcnow() - live.last_seen >= TOUCH_EVERY


def touch_session(session: Session, *, company_id: int, session_id: int) -> None:
    """Record activity; conditional, so concurrent requests of one session write it once."""
    now = utcnow()
    session.execute(
        update(PanelSession)
        .where(
            PanelSession.company_id == company_id,
            PanelSession.id == session_id,
            PanelSession.last_seen <= now - TOUCH_EVERY,
        )
        .values(last_seen=now)
    )


def end_session(session: Session, *, token: str) -> None:
    session.execute(delete(PanelSession).where(PanelSession.token_hash == hash_token(token)))


def end_operator_sessions(
    session: Session, *, company_id: int, operator_id: int, keep_session_id: int | None = None
) -> None:
    """End every session of an operator (but ``keep_session_id``, the one asking)."""
    stmt = delete(PanelSession).where(
        PanelSession.company_id == company_id, PanelSession.operator_id == operator_id
    )
    if keep_session_id is not None:
        stmt = stmt.where(PanelSession.id != keep_session_id)
    session.execute(stmt)


def end_own_session(
    session: Session, *, company_id: int, operator_id: int, session_id: int
) -> None:
    """An operator ends one of their own sessions (another device); others' answer 404."""
    row = get_scoped(session, PanelSession, session_id, company_id=company_id)
    if row is None or row.operator_id != operator_id:
        raise NotFound()
    session.delete(row)
    session.flush()


def list_sessions(session: Session, *, company_id: int, operator_id: int) -> list[PanelSession]:
    """The operator's unexpired sessions, most recently active first."""
    stmt = (
        select(PanelSession)
        .where(
            PanelSession.company_id == company_id,
            PanelSession.operator_id == operator_id,
            PanelSession.expires > utcnow(),
        )
        .order_by(PanelSession.last_seen.desc(), PanelSession.id.desc())
    )
    return list(session.scalars(stmt))


def _purge_expired(session: Session, *, operator: Operator, now: datetime) -> None:
    # Done at each sign-in, so an operator's rows stay bounded without a sweeper job.
    session.execute(
        delete(PanelSession).where(
            PanelSession.company_id == operator.company_id,
            PanelSession.operator_id == operator.id,
            PanelSession.expires <= now,
        )
    )
