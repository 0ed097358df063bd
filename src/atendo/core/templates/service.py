"""Reply templates."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atendo.core.errors import Conflict, Invalid, NotFound
from atendo.core.templates.models import Template
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page


def list_templates(session: Session, *, company_id: int, page: Page) -> tuple[list[Template], int]:
    stmt = select(Template).where(Template.company_id == company_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Template.id).limit(page.limit).offset(page.offset))
    return list(rows), total


def get_template(session: Session, *, company_id: int, template_id: int) -> Template:
    tpl = get_scoped(session, Template, template_id, company_id=company_id)
    if tpl is None:
        raise NotFound()
    return tpl


VARIABLES = ("{cliente.nome}", "{operador.nome}", "{client.name}", "{operator.name}")


def _checked(
    session: Session, company_id: int, name: str, text: str, command: str, template_id: int | None
) -> tuple[str, str, str]:
    if not name.strip() or not text.strip():
        raise Invalid("name and text are required", code="template.required")
    command = command.strip().strip("/").strip()
    if command:
        taken = session.scalar(
            select(Template.id).where(
                Template.company_id == company_id,
                func.lower(Template.command) == command.lower(),
                Template.id != (template_id or 0),
            )
        )
        if taken is not None:
            raise Conflict(
                f"Another template already uses the shortcut /{command}",
                {"command": ["taken"]},
                code="template.command_taken",
                params={"command": command},
            )
    return name.strip(), text, command


def create_template(
    session: Session, *, company_id: int, name: str, text: str, command: str = ""
) -> Template:
    name, text, command = _checked(session, company_id, name, text, command, None)
    tpl = Template(company_id=company_id, name=name, text=text, command=command)
    session.add(tpl)
    session.flush()
    return tpl


def update_template(
    session: Session, *, company_id: int, template_id: int, name: str, text: str, command: str
) -> Template:
    tpl = get_template(session, company_id=company_id, template_id=template_id)
    tpl.name, tpl.text, tpl.command = _checked(
        session, company_id, name, text, command, template_id
    )
    session.flush()
    return tpl


def fill_template(text: str, *, client_name: str, operator_name: str) -> str:
    """The template's text with its variables filled ({cliente.nome}, {operador.nome}, and
    their English spellings)."""
    for key, value in (
        ("{cliente.nome}", client_name),
        ("{client.name}", client_name),
        ("{operador.nome}", operator_name),
        ("{operator.name}", operator_name),
    ):
        text = text.replace(key, value)
    return text


def delete_template(session: Session, *, company_id: int, template_id: int) -> None:
    session.delete(get_template(session, company_id=company_id, template_id=template_id))
    session.flush()
