"""Operators, their passwords (argon2) and their groups."""

from __future__ import annotations

import secrets
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from atendo.core.dialogs.models import Dialog
from atendo.core.enums import DialogState, GroupRule, Role
from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.lengths import check_length, column_length
from atendo.core.operators.models import GroupMember, Operator, OperatorGroup
from atendo.core.operators.sessions import end_operator_sessions
from atendo.kit.clock import utcnow
from atendo.kit.crypto import hash_password, verify_password
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page, count_total


class Unset:
    """A parameter that was not given (where None is a value: "no limit")."""


UNSET = Unset()


def _checked_hash(password: str) -> str:
    if len(password) < 8:
        raise Invalid(
            "Password must have at least 8 characters",
            {"password": ["at least 8 characters"]},
            code="operator.password_too_short",
        )
    return hash_password(password)


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > column_length(Operator.email):
        raise Invalid(
            "Invalid e-mail address",
            {"email": ["invalid e-mail address"]},
            code="operator.invalid_email",
        )
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
        raise Conflict(
            "An operator with this e-mail already exists",
            {"email": ["taken"]},
            code="operator.email_taken",
        )
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
    rows = list(session.scalars(stmt.order_by(Operator.id).limit(page.limit).offset(page.offset)))
    # a page that is not full tells the total (the panel reads every operator on each render)
    return rows, count_total(session, stmt, page, capped=False, shown=len(rows))


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


# The languages an operator's panel speaks (its catalogs).
LANGUAGES = ("pt_BR", "en", "es")


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
    max_open_dialogs: int | Unset | None = UNSET,
    new_chats_unavailable: bool | None = None,
    notifications: bool | None = None,
) -> Operator:
    """Change an operator's profile and routing settings (``max_open_dialogs``: a positive
    limit of open chats the router gives them, None for none; left alone when not given).
    The status has its own verb, ``core.team.statuses.set_operator_status``."""
    op = get_operator(session, company_id=company_id, operator_id=operator_id)
    if not isinstance(max_open_dialogs, Unset):
        if max_open_dialogs is not None and not 1 <= max_open_dialogs <= 10_000:
            raise Invalid(
                "max_open_dialogs must be between 1 and 10000 (or null for no limit)",
                {"max_open_dialogs": ["between 1 and 10000"]},
            )
        op.max_open_dialogs = max_open_dialogs
    if new_chats_unavailable is not None:
        op.new_chats_unavailable = new_chats_unavailable
    if notifications is not None:
        op.notifications = notifications
    if first_name is not None:
        op.first_name = first_name
    if last_name is not None:
        op.last_name = last_name
    if timezone and timezone not in time_zones():
        raise Invalid(
            "Unknown time zone",
            {"timezone": ["unknown time zone"]},
            code="operator.unknown_timezone",
        )
    if role is not None:
        if (
            op.role == Role.ADMIN
            and role != Role.ADMIN
            and active_admins(session, company_id=company_id) <= 1
        ):
            raise Conflict(
                "The company needs at least one active admin",
                {"role": ["last admin"]},
                code="operator.last_admin",
            )
        op.role = role.value
    if online is not None:
        op.online = online
    if password:
        op.password_hash = _checked_hash(password)
    if language in LANGUAGES:
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
        raise Invalid(
            "The current password is wrong",
            {"current": ["wrong password"]},
            code="operator.wrong_password",
        )
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


def _rule(rule: str) -> str:
    if rule not in tuple(r.value for r in GroupRule):
        rules = ", ".join(r.value for r in GroupRule)
        raise Invalid(f"rule must be one of {rules}", {"rule": ["invalid"]})
    return rule


def _group_name(session: Session, company_id: int, name: str, group_id: int | None) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("A group needs a name", {"name": ["required"]}, code="group.name_required")
    check_length(OperatorGroup.name, name)
    taken = session.scalar(
        select(OperatorGroup.id).where(
            OperatorGroup.company_id == company_id,
            func.lower(OperatorGroup.name) == name.lower(),
            OperatorGroup.id != (group_id or 0),
        )
    )
    if taken is not None:
        raise Conflict(
            "A group with this name already exists", {"name": ["taken"]}, code="group.name_taken"
        )
    return name


def create_group(
    session: Session,
    *,
    company_id: int,
    name: str,
    rule: str = GroupRule.LEAST_BUSY.value,
    members: dict[int, int] | None = None,
) -> OperatorGroup:
    group = OperatorGroup(
        company_id=company_id, name=_group_name(session, company_id, name, None), rule=_rule(rule)
    )
    session.add(group)
    session.flush()
    if members is not None:
        set_group_members(session, company_id=company_id, group_id=group.id, members=members)
    return group


def update_group(
    session: Session,
    *,
    company_id: int,
    group_id: int,
    name: str | None = None,
    rule: str | None = None,
    members: dict[int, int] | None = None,
) -> OperatorGroup:
    """Rename the group, change its routing rule, or replace its members ({operator: skill})."""
    group = get_group(session, company_id=company_id, group_id=group_id)
    if name is not None:
        group.name = _group_name(session, company_id, name, group.id)
    if rule is not None:
        group.rule = _rule(rule)
    if members is not None:
        set_group_members(session, company_id=company_id, group_id=group.id, members=members)
    session.flush()
    return group


def set_group_members(
    session: Session, *, company_id: int, group_id: int, members: dict[int, int]
) -> None:
    """The group's members become exactly ``members`` (operator id → skill 1–100)."""
    for operator_id, skill in members.items():
        if not 1 <= skill <= 100:
            raise Invalid("Skill must be between 1 and 100", {"members": ["skill 1-100"]})
        found = session.scalar(
            select(Operator.id).where(Operator.company_id == company_id, Operator.id == operator_id)
        )
        if found is None:
            raise NotFound("Operator not found")
    current = {
        m.operator_id: m
        for m in session.scalars(
            select(GroupMember).where(
                GroupMember.company_id == company_id, GroupMember.group_id == group_id
            )
        )
    }
    for operator_id, member in current.items():
        if operator_id not in members:
            session.delete(member)
    for operator_id, skill in members.items():
        if operator_id in current:
            current[operator_id].skill = skill
        else:
            session.add(
                GroupMember(
                    company_id=company_id, group_id=group_id, operator_id=operator_id, skill=skill
                )
            )
    session.flush()


def delete_group(session: Session, *, company_id: int, group_id: int) -> int:
    """Delete the group and its memberships; its dialogs keep their operator and lose the
    group. Returns how many dialogs were in it."""
    from atendo.core.dialogs.models import Dialog

    group = get_group(session, company_id=company_id, group_id=group_id)
    moved = session.execute(
        update(Dialog)
        .where(Dialog.company_id == company_id, Dialog.group_id == group.id)
        .values(group_id=None)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        delete(GroupMember).where(
            GroupMember.company_id == company_id, GroupMember.group_id == group.id
        )
    )
    session.delete(group)
    session.flush()
    return int(moved or 0)


def remove_group_member(
    session: Session, *, company_id: int, group_id: int, operator_id: int
) -> bool:
    get_group(session, company_id=company_id, group_id=group_id)
    gone = session.execute(
        delete(GroupMember).where(
            GroupMember.company_id == company_id,
            GroupMember.group_id == group_id,
            GroupMember.operator_id == operator_id,
        )
    ).rowcount  # type: ignore[attr-defined]
    session.flush()
    return bool(gone)


def active_admins(session: Session, *, company_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Operator)
            .where(Operator.company_id == company_id, Operator.role == Role.ADMIN)
        )
        or 0
    )


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
        raise Invalid("Skill must be between 1 and 100", code="operator.invalid_skill")
    member = session.scalar(
        select(GroupMember).where(
            GroupMember.company_id == company_id,
            GroupMember.group_id == group_id,
            GroupMember.operator_id == operator_id,
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
