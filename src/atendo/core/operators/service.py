"""Operators, their passwords (argon2) and their groups."""

from __future__ import annotations

import secrets
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.dialogs.models import Dialog
from atendo.core.enums import DialogState, Role
from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.operators.models import GroupMember, Operator, OperatorGroup
from atendo.core.operators.sessions import end_operator_sessions
from atendo.kit.clock import utcnow
from atendo.kit.crypto import hash_password, verify_password
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page


def _checked_hash(password: str) -> str:
    if len(password) < 8:
        raise Invalid(
            "Password must have at least 8 characters", {"password": ["at least 8 characters"]}
        )
    return hash_password(password)


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid("Invalid e-mail address", {"email": ["invalid e-mail address"]})
    return email


def create_operator(
    session: Session,
    *,
    company_id: int,
    email: str,
    password: str,
    role: Role = Role.OPERATOR,
    first_name: str = "",
    last_name: str = "",
) -> Operator:
    email = _normal_email(email)
    password_hash = _checked_hash(password)
    if session.scalar(select(Operator.id).where(Operator.email == email)) is not None:
        raise Conflict("An operator with this e-mail already exists", {"email": ["taken"]})
    operator = Operator(
        company_id=company_id,
        email=email,
        password_hash=password_hash,
        role=role.value,
        first_name=first_name,
        last_name=last_name,
    )
    session.add(operator)
    session.flush()
    return operator


def get_operator(session: Session, *, company_id: int, operator_id: int) -> Operator:
    op = get_scoped(session, Operator, operator_id, company_id=company_id)
    if op is None:
        raise NotFound()
    return op


def list_operators(
    session: Session,
    *,
    company_id: int,
    page: Page,
    email: str | None = None,
    role: str | None = None,
    online: bool | None = None,
) -> tuple[list[Operator], int]:
    stmt = select(Operator).where(Operator.company_id == company_id)
    if email:
        stmt = stmt.where(Operator.email == email.strip().lower())
    if role:
        stmt = stmt.where(Operator.role == role)
    if online is not None:
        stmt = stmt.where(Operator.online == online)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Operator.id).limit(page.limit).offset(page.offset))
    return list(rows), total


def opened_dialogs_count(session: Session, *, company_id: int, operator_id: int) -> int:
    stmt = select(func.count(Dialog.id)).where(
        Dialog.company_id == company_id,
        Dialog.operator_id == operator_id,
        Dialog.state == DialogState.OPEN,
    )
    return session.scalar(stmt) or 0


# Debian's tzdata links "localtime" to the machine's own zone, and "Factory" is a placeholder:
# neither means anything as an operator's preference.
_NOT_ZONES = frozenset({"localtime", "Factory"})


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones this system knows (zoneinfo), sorted; scanned once per process."""
    return tuple(sorted(available_timezones() - _NOT_ZONES))


def update_operator(
    session: Session,
    *,
    company_id: int,
    operator_id: int,
    first_name: str | None = None,
    last_name: str | None = None,
    role: Role | None = None,
    online: bool | None = None,
    password: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
) -> Operator:
    op = get_operator(session, company_id=company_id, operator_id=operator_id)
    if first_name is not None:
        op.first_name = first_name
    if last_name is not None:
        op.last_name = last_name
    if timezone and timezone not in time_zones():
        raise Invalid("Unknown time zone", {"timezone": ["unknown time zone"]})
    if role is not None:
        op.role = role.value
    if online is not None:
        op.online = online
    if password:
        op.password_hash = _checked_hash(password)
    if language in ("pt_BR", "en"):
        op.language = language
    if timezone:
        op.timezone = timezone
    if password or role == Role.DISABLED:
        # A new password or a disabled account must not leave a copied cookie working.
        end_operator_sessions(session, company_id=op.company_id, operator_id=op.id)
    session.flush()
    return op


def change_own_password(
    session: Session,
    *,
    company_id: int,
    operator_id: int,
    current: str,
    new: str,
    keep_session_id: int | None = None,
) -> Operator:
    """The operator changes their own password: the current one is checked, and every other
    session ends (the one asking stays signed in)."""
    op = get_operator(session, company_id=company_id, operator_id=operator_id)
    if not verify_password(op.password_hash, current):
        raise Invalid("The current password is wrong", {"current": ["wrong password"]})
    op.password_hash = _checked_hash(new)
    end_operator_sessions(
        session, company_id=op.company_id, operator_id=op.id, keep_session_id=keep_session_id
    )
    session.flush()
    return op


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def authenticate_operator(session: Session, *, email: str, password: str) -> Operator | None:
    op = session.scalar(select(Operator).where(Operator.email == email.strip().lower()))
    if op is None:
        # Spend the same time as a real check (one verification, against a hash made once)
        # so that timing does not reveal who exists.
        verify_password(_dummy_hash(), password)
        return None
    if op.role == Role.DISABLED or not verify_password(op.password_hash, password):
        return None
    op.last_visit = utcnow()
    return op


def create_group(session: Session, *, company_id: int, name: str) -> OperatorGroup:
    group = OperatorGroup(company_id=company_id, name=name.strip())
    session.add(group)
    session.flush()
    return group


def get_group(session: Session, *, company_id: int, group_id: int) -> OperatorGroup:
    group = get_scoped(session, OperatorGroup, group_id, company_id=company_id)
    if group is None:
        raise NotFound()
    return group


def set_group_member(
    session: Session, *, company_id: int, group_id: int, operator_id: int, skill: int = 50
) -> GroupMember:
    get_group(session, company_id=company_id, group_id=group_id)
    get_operator(session, company_id=company_id, operator_id=operator_id)
    if not 1 <= skill <= 100:
        raise Invalid("Skill must be between 1 and 100")
    member = session.scalar(
        select(GroupMember).where(
            GroupMember.group_id == group_id, GroupMember.operator_id == operator_id
        )
    )
    if member is None:
        member = GroupMember(
            company_id=company_id, group_id=group_id, operator_id=operator_id, skill=skill
        )
        session.add(member)
    else:
        member.skill = skill
    session.flush()
    return member


def list_groups(
    session: Session, *, company_id: int
) -> list[tuple[OperatorGroup, list[GroupMember]]]:
    groups = list(
        session.scalars(
            select(OperatorGroup)
            .where(OperatorGroup.company_id == company_id)
            .order_by(OperatorGroup.id)
        )
    )
    members = list(session.scalars(select(GroupMember).where(GroupMember.company_id == company_id)))
    return [(g, [m for m in members if m.group_id == g.id]) for g in groups]
