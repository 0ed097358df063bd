"""/v1/messages/{id}/read, /unread, /transfer, /transfer_to_group."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import MESSAGE, obj
from atendo.api.serializers import messages_out
from atendo.core.dialogs.service import TRANSFER_COMMENT_MAX
from atendo.core.errors import Invalid, NotFound
from atendo.core.messages.service import get_message, set_read
from atendo.core.team.routing import transfer_dialog

router = APIRouter(tags=["messages"])

FORCE = Param(
    "force_assign",
    "boolean",
    "true: assign even when the operator is offline or at their limit; to a group: hand it at"
    " once to the member the group's rule picks (default: wait for an online member)",
)
COMMENT = Param(
    "comment",
    "string",
    "a note for the timeline",
    ext=True,
    max_length=TRANSFER_COMMENT_MAX,
)
TRANSFERRED = obj({"dialog_id": "integer", "operator_id": "integer?", "group_id": "integer?"})


def _mark(message_id: int, ctx: ApiContext, read: bool) -> JSONResponse:
    with ctx.write() as session:
        message = set_read(session, company_id=ctx.company_id, message_id=message_id, read=read)
        return ok(messages_out(session, [message])[0])


@router.get("/v1/messages/{message_id}/read", **doc("Mark a message read", data=MESSAGE))
def read(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return _mark(message_id, ctx, True)


@router.get("/v1/messages/{message_id}/unread", **doc("Mark a message unread", data=MESSAGE))
def unread(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return _mark(message_id, ctx, False)


def _transfer(
    ctx: ApiContext, message_id: int, operator_id: int | None, group_id: int | None
) -> JSONResponse:
    force = bool(ctx.params.boolean("force_assign"))
    comment = ctx.params.text("comment") or ""
    with ctx.write() as session:
        message = get_message(session, company_id=ctx.company_id, message_id=message_id)
        if message.dialog_id is None:
            raise NotFound("The message belongs to no dialog")
        dialog = transfer_dialog(
            session,
            company_id=ctx.company_id,
            dialog_id=message.dialog_id,
            operator_id=operator_id,
            group_id=group_id,
            comment=comment,
            force=force,
        )
        return ok(
            {
                "dialog_id": dialog.id,
                "operator_id": dialog.operator_id,
                "group_id": dialog.group_id,
            }
        )


@router.get(
    "/v1/messages/{message_id}/transfer",
    **doc(
        "Transfer the message's dialog to an operator",
        [Param("operator_id", "integer", "the new operator", required=True), FORCE, COMMENT],
        data=TRANSFERRED,
    ),
)
def transfer(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    operator_id = ctx.params.integer("operator_id")
    if operator_id is None:
        raise Invalid("operator_id is required", {"operator_id": ["required"]})
    return _transfer(ctx, message_id, operator_id, None)


@router.get(
    "/v1/messages/{message_id}/transfer_to_group",
    **doc(
        "Transfer the message's dialog to an operator group (unassigns the operator)",
        [Param("group_id", "integer", "the group", required=True), FORCE, COMMENT],
        data=TRANSFERRED,
    ),
)
def transfer_to_group(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    group_id = ctx.params.integer("group_id")
    if group_id is None:
        raise Invalid("group_id is required", {"group_id": ["required"]})
    return _transfer(ctx, message_id, None, group_id)
