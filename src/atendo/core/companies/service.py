"""Companies (tenants) and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from atendo.core.companies.models import ApiToken, AuditEntry, Company
from atendo.core.enums import Role
from atendo.core.errors import Invalid, NotFound
from atendo.core.operators.models import Operator
from atendo.core.operators.service import create_operator
from atendo.kit.clock import utcnow
from atendo.kit.crypto import hash_token, new_token


@dataclass(frozen=True)
class NewCompany:
    company: Company
    admin: Operator
    api_token: str


def create_company(
    session: Session,
    *,
    name: str,
    admin_email: str,
    admin_password: str,
    admin_first_name: str = "",
    admin_last_name: str = "",
) -> NewCompany:
    company = Company(name=name.strip() or "Atendo")
    session.add(company)
    session.flush()
    admin = create_operator(
        session,
        company_id=company.id,
        email=admin_email,
        password=admin_password,
        role=Role.ADMIN,
        first_name=admin_first_name,
        last_name=admin_last_name,
    )
    token = issue_token(session, company_id=company.id)
    return NewCompany(company=company, admin=admin, api_token=token)


def get_company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound()
    return company


def any_company_exists(session: Session) -> bool:
    return session.scalar(select(Company.id).limit(1)) is not None


def issue_token(session: Session, *, company_id: int) -> str:
    """A new API token; only its hash is stored, so it is shown once."""
    token = new_token()
    session.add(ApiToken(company_id=company_id, token_hash=hash_token(token), hint=token[:4]))
    session.flush()
    return token


def regenerate_token(session: Session, *, company_id: int) -> str:
    """Replace every token of the company: the old ones stop working at once."""
    session.execute(delete(ApiToken).where(ApiToken.company_id == company_id))
    return issue_token(session, company_id=company_id)


def company_for_token(session: Session, token: str) -> int | None:
    if not token:
        return None
    return session.scalar(
        select(ApiToken.company_id).where(ApiToken.token_hash == hash_token(token))
    )


def add_api_requests(session: Session, *, company_id: int, count: int) -> None:
    """Add to this month's API request counter (a new month starts from zero)."""
    month = utcnow().strftime("%Y-%m")
    session.execute(
        update(Company)
        .where(Company.id == company_id, Company.api_requests_month == month)
        .values(api_requests_count=Company.api_requests_count + count)
    )
    session.execute(
        update(Company)
        .where(Company.id == company_id, Company.api_requests_month != month)
        .values(api_requests_month=month, api_requests_count=count)
    )


def requests_this_month(company: Company) -> int:
    return (
        company.api_requests_count
        if company.api_requests_month == utcnow().strftime("%Y-%m")
        else 0
    )


def rename_company(session: Session, *, company_id: int, name: str) -> Company:
    company = get_company(session, company_id)
    company.name = name
    session.flush()
    return company


def record_audit(
    session: Session,
    *,
    company_id: int,
    actor: str,
    action: str,
    kind: str = "",
    operator_id: int | None = None,
    dialog_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One line of the company's audit log. Named entries (``kind``) carry who acted
    (``operator_id``; None: the API or the router, as ``actor`` says), the dialog they concern
    and their details: they are the dialogs' timelines and the admins' "who did what"."""
    session.add(
        AuditEntry(
            company_id=company_id,
            actor=actor[:100],
            action=action[:200],
            kind=kind,
            operator_id=operator_id,
            dialog_id=dialog_id,
            details=details or {},
            created=utcnow(),
        )
    )


def actor_of(operator_id: int | None, fallback: str = "api") -> str:
    return f"operator:{operator_id}" if operator_id is not None else fallback


def list_audit(
    session: Session,
    *,
    company_id: int,
    dialog_id: int | None = None,
    named_only: bool = True,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """Audit entries, newest first (a dialog's: oldest first, as a timeline reads)."""
    stmt = select(AuditEntry).where(AuditEntry.company_id == company_id)
    if named_only:
        stmt = stmt.where(AuditEntry.kind != "")
    if dialog_id is not None:
        stmt = stmt.where(AuditEntry.dialog_id == dialog_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = AuditEntry.id.asc() if dialog_id is not None else AuditEntry.id.desc()
    rows = session.scalars(stmt.order_by(order).limit(limit).offset(offset))
    return list(rows), total


def update_team_settings(
    session: Session,
    *,
    company_id: int,
    inactivity_minutes: int | None = None,
    requeue_on_offline: bool | None = None,
) -> Company:
    """The team's settings: minutes without activity before a panel status goes offline
    (0: never, at most a day) and whether an operator's open chats return to the queue then."""
    company = get_company(session, company_id)
    if inactivity_minutes is not None:
        if not 0 <= inactivity_minutes <= 24 * 60:
            raise Invalid(
                "The inactivity timeout is between 0 and 1440 minutes",
                {"inactivity_minutes": ["0-1440"]},
            )
        company.inactivity_minutes = inactivity_minutes
    if requeue_on_offline is not None:
        company.requeue_on_offline = requeue_on_offline
    session.flush()
    return company
