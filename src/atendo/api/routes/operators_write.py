"""/v1/operators (writing)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.params import to_integer
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import OPERATOR, OPERATOR_GROUP
from atendo.api.serializers import group_out, operator_out
from atendo.core.enums import GroupRule, OperatorStatus, Role
from atendo.core.errors import Invalid, NotFound
from atendo.core.lengths import column_length
from atendo.core.operators.models import Operator, OperatorGroup
from atendo.core.operators.service import (
    LANGUAGES as OPERATOR_LANGUAGES,
)
from atendo.core.operators.service import (
    UNSET,
    Unset,
    create_group,
    create_operator,
    list_groups,
    update_group,
    update_operator,
)
from atendo.core.team.statuses import parse_status, set_operator_status

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
        Param(
            "status",
            "string",
            "the operator's status: working (online, receives new chats), busy, break, offline,"
            " or the key of a status the admin added (its own working flag says if it is online)",
            ext=True,
        ),
        Param(
            "max_open_dialogs",
            "integer",
            "the most open chats the router gives them (null or 0: no limit)",
            ext=True,
        ),
        Param(
            "new_chats_unavailable",
            "boolean",
            "true: the router gives them no new chats and they see only their own",
            ext=True,
        ),
        Param(
            "language",
            "string",
            "the language of their panel: pt_BR, en or es",
            choices=OPERATOR_LANGUAGES,
            ext=True,
        ),
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
            password=p.text("password"),
            max_open_dialogs=_limit(ctx),
            new_chats_unavailable=p.boolean("new_chats_unavailable"),
            language=_language(p.text("language")),
        )
        status = p.text("status")
        online = p.boolean("online")
        if status:
            op = set_operator_status(
                session,
                company_id=ctx.company_id,
                operator_id=op.id,
                status=parse_status(status),
                source="api",
            )
        elif online is not None:  # Chat2Desk's switch: online is the working status
            op = set_operator_status(
                session,
                company_id=ctx.company_id,
                operator_id=op.id,
                status=OperatorStatus.WORKING if online else OperatorStatus.OFFLINE,
                source="api",
            )
        return ok(operator_out(session, op))


def _language(value: str | None) -> str | None:
    """The panel language asked for (None: unchanged); one the panel has not, a 422."""
    if value is None or value == "":
        return None
    if value not in OPERATOR_LANGUAGES:
        raise Invalid(
            f"language must be one of {', '.join(OPERATOR_LANGUAGES)}", {"language": ["invalid"]}
        )
    return value


def _limit(ctx: ApiContext) -> int | Unset | None:
    if "max_open_dialogs" not in ctx.params.names():
        return UNSET
    value = ctx.params.integer("max_open_dialogs")
    return value or None


def _members(ctx: ApiContext) -> dict[int, int] | None:
    """``members``: a list of ``{operator_id, skill}`` (JSON, or JSON text in a form)."""
    if not ctx.params.has("members"):
        return None
    out: dict[int, int] = {}
    for item in ctx.params.items("members"):
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                item = None
        if not isinstance(item, dict) or "operator_id" not in item:
            raise Invalid(
                "members must be a list of {operator_id, skill}", {"members": ["invalid"]}
            )
        out[to_integer("operator_id", item["operator_id"])] = to_integer(
            "skill", item.get("skill", 50)
        )
    return out


GROUP_PARAMS = [
    Param("name", "string", "the group's name", max_length=column_length(OperatorGroup.name)),
    Param(
        "rule",
        "string",
        "how new chats are handed out: least_busy, most_skilled, probability",
        choices=tuple(r.value for r in GroupRule),
    ),
    Param("members", "object", "[{operator_id, skill 1-100}]: the group's members (replaced)"),
]


@router.post(
    "/v1/operators_groups",
    **doc(
        "Create an operator group",
        GROUP_PARAMS,
        body=True,
        ext=True,
        data=OPERATOR_GROUP,
        status=201,
    ),
)
def create_group_route(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    members = _members(ctx)
    with ctx.write() as session:
        group = create_group(
            session,
            company_id=ctx.company_id,
            name=ctx.params.text("name") or "",
            rule=ctx.params.text("rule") or GroupRule.LEAST_BUSY.value,
            members=members,
        )
        return ok(_group(session, ctx.company_id, group.id), status_code=201)


@router.put(
    "/v1/operators_groups/{group_id}",
    **doc("Change an operator group", GROUP_PARAMS, body=True, ext=True, data=OPERATOR_GROUP),
)
def change_group_route(group_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    members = _members(ctx)
    with ctx.write() as session:
        update_group(
            session,
            company_id=ctx.company_id,
            group_id=group_id,
            name=ctx.params.text("name"),
            rule=ctx.params.text("rule"),
            members=members,
        )
        return ok(_group(session, ctx.company_id, group_id))


def _group(session: Session, company_id: int, group_id: int) -> dict[str, Any]:
    for group, members in list_groups(session, company_id=company_id):
        if group.id == group_id:
            return group_out(group, members)
    raise NotFound()
