"""Reply templates."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.errors import Invalid, NotFound
from atendo.core.templates.models import Template
from atendo.kit.pagination import Page


def list_templates(session: Session, *, company_id: int, page: Page) -> tuple[list[Template], int]:
    stmt = select(Template).where(Template.company_id == company_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Template.id).limit(page.limit).offset(page.offset))
    return list(rows), total


def get_template(session: Session, *, company_id: int, template_id: int) -> Template:
    tpl = session.get(Template, template_id)
    if tpl is None or tpl.company_id != company_id:
        raise NotFound()
    return tpl


def create_template(
    session: Session, *, company_id: int, name: str, text: str, command: str = ""
) -> Template:
    if not name.strip() or not text.strip():
        raise Invalid("name and text are required", code="template.required")
    tpl = Template(company_id=company_id, name=name.strip(), text=text, command=command.strip("/ "))
    session.add(tpl)
    session.flush()
    return tpl


def delete_template(session: Session, *, company_id: int, template_id: int) -> None:
    session.delete(get_template(session, company_id=company_id, template_id=template_id))
    session.flush()
