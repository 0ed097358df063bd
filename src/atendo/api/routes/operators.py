"""/v1/operators and /v1/operators_groups (reading)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import PAGING, Param, doc
from atendo.api.routes.shapes import OPERATOR, OPERATOR_GROUP
from atendo.api.serializers import group_out, operator_out
from atendo.core.operators.service import get_operator, list_groups, list_operators

router = APIRouter(tags=["operators"])

FILTERS = [
    Param("email", "string", "only the operator with this login e-mail"),
    Param("role", "string", "only this role's"),
    Param("online", "boolean", "only online (true) or offline (false) operators"),
    *PAGING,
]


@router.get("/v1/operators", **doc("Operators", FILTERS, data=OPERATOR, listing=True))
def operators(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        rows, total = list_operators(
            session,
            company_id=ctx.company_id,
            page=p,
            email=ctx.params.text("email"),
            role=ctx.params.text("role"),
            online=ctx.params.boolean("online"),
        )
        return page([operator_out(session, o) for o in rows], total=total, page=p)


@router.get(
    "/v1/operators/statuses",
    **doc("Operators and their online status", FILTERS, data=OPERATOR, listing=True),
)
def statuses(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return operators(ctx)


@router.get("/v1/operators/{operator_id}", **doc("One operator", data=OPERATOR))
@router.get(
    "/v1/operators/statuses/{operator_id}",
    **doc("One operator and their online status", data=OPERATOR),
)
def operator(operator_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        op = get_operator(session, company_id=ctx.company_id, operator_id=operator_id)
        return ok(operator_out(session, op))


@router.get(
    "/v1/operators_groups",
    **doc("Operator groups with their members and skills", data=OPERATOR_GROUP, listing=True),
)
def groups(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        out = [
            group_out(g, members) for g, members in list_groups(session, company_id=ctx.company_id)
        ]
        return ok(out, meta={"total": len(out), "limit": len(out), "offset": 0})
