"""/v1/tags (reading)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import PAGING, doc
from atendo.api.routes.shapes import TAG
from atendo.api.serializers import tag_out
from atendo.core.tags.service import get_tag, group_names, list_tags

router = APIRouter(tags=["tags"])


@router.get("/v1/tags", **doc("Tags", PAGING, data=TAG, listing=True))
def tags(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        rows, total = list_tags(session, company_id=ctx.company_id, page=p)
        names = group_names(session, company_id=ctx.company_id)
        return page([tag_out(t, names) for t in rows], total=total, page=p)


@router.get("/v1/tags/{tag_id}", **doc("One tag", data=TAG))
def tag(tag_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_tag(session, company_id=ctx.company_id, tag_id=tag_id)
        return ok(tag_out(row, group_names(session, company_id=ctx.company_id)))
