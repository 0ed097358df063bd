"""/v1/operators (writing)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import OPERATOR
from atendo.api.serializers import operator_out
from atendo.core.enums import Role
from atendo.core.errors import Invalid
from atendo.core.lengths import column_length
from atendo.core.operators.models import Operator
from atendo.core.operators.service import create_operator, update_operator

router = APIRouter(tags=["operators"])

ROLE = Param(
    "role", "string", ", ".join(r.value for r in Role), choices=tuple(r.value for r in Role)
)


def _role(value: str | None) -> Role | None:
    if value is None or value == "":
        return None
    try:
        return Role(value.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise Invalid(f"role must be one of {roles}", {"role": ["invalid"]}) from None


@router.post(
    "/v1/operators",
    **doc(
        "Create an operator",
        [
            Param(
                "email",
                "string",
                "login e-mail",
                required=True,
                max_length=column_length(Operator.email),
            ),
            Param(
                "first_name", "string", "first name", max_length=column_length(Operator.first_name)
            ),
            Param("last_name", "string", "last name", max_length=column_length(Operator.last_name)),
            ROLE,
            Param("password", "string", "at least 8 characters; a random one when omitted"),
        ],
        body=True,
        data=OPERATOR,
        status=201,
    ),
)
def create(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    email = p.text("email") or ""
    if not email.strip():
        raise Invalid("email is required", {"email": ["required"]})
    with ctx.write() as session:
        op = create_operator(
            session,
            company_id=ctx.company_id,
            email=email,
            # Without a password the operator sets one through "forgot password" later.
            password=p.text("password") or secrets.token_urlsafe(24),
            role=_role(p.text("role")) or Role.OPERATOR,
            first_name=p.text("first_name") or "",
            last_name=p.text("last_name") or "",
        )
        return ok(operator_out(session, op), status_code=201)


CHANGE = doc(
    "Change an operator",
    [
        Param("first_name", "string", "first name", max_length=column_length(Operator.first_name)),
        Param("last_name", "string", "last name", max_length=column_length(Operator.last_name)),
        ROLE,
        Param("online", "boolean", "online status"),
        Param("password", "string", "a new password", ext=True),
    ],
    body=True,
    data=OPERATOR,
)


@router.put("/v1/operators/{operator_id}", **CHANGE)
@router.put("/v1/operators/statuses/{operator_id}", include_in_schema=False, **CHANGE)
def change(operator_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    with ctx.write() as session:
        op = update_operator(
            session,
            company_id=ctx.company_id,
            operator_id=operator_id,
            first_name=p.text("first_name"),
            last_name=p.text("last_name"),
            role=_role(p.text("role")),
            online=p.boolean("online"),
            password=p.text("password"),
        )
        return ok(operator_out(session, op))
