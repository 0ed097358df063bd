"""/v1/templates (reading)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import PAGING, doc
from atendo.api.routes.shapes import TEMPLATE
from atendo.api.serializers import template_out
from atendo.core.templates.service import get_template, list_templates

router = APIRouter(tags=["templates"])


@router.get("/v1/templates", **doc("Reply templates", PAGING, data=TEMPLATE, listing=True))
def templates(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        rows, total = list_templates(session, company_id=ctx.company_id, page=p)
        return page([template_out(t) for t in rows], total=total, page=p)


@router.get("/v1/templates/{template_id}", **doc("One reply template", data=TEMPLATE))
def template(template_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_template(session, company_id=ctx.company_id, template_id=template_id)
        return ok(template_out(row))
