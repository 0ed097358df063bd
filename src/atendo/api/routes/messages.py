"""/v1/messages (reading)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import ORDER, PAGING, Param, doc
from atendo.api.routes.shapes import MESSAGE
from atendo.api.serializers import messages_out
from atendo.core.messages.service import get_message, list_message_rows

router = APIRouter(tags=["messages"])

FILTERS = [
    Param("transport", "string", "only this transport's"),
    Param("channel_id", "integer", "only this channel's"),
    Param("client_id", "integer", "only this client's"),
    Param("dialog_id", "integer", "only this dialog's"),
    Param("type", "string", "to_client, from_client, autoreply, system or comment"),
    Param("read", "boolean", "only read (true) or unread (false) messages"),
    Param("operator_id", "integer", "only this operator's"),
    Param("start_date", "date", "created at or after (ISO 8601)"),
    Param("finish_date", "date", "created at or before (ISO 8601)"),
    Param("start_id", "integer", "ids from this one on"),
    Param("q", "string", "subject or text contains this (accents and case ignored)", ext=True),
    Param(
        "include_hidden",
        "boolean",
        "also mail kept out of the chats (our own copies, blocked senders, unplaced "
        "bounces); see hidden_reason",
        ext=True,
    ),
    ORDER,
    *PAGING,
]


@router.get("/v1/messages", **doc("Messages", FILTERS, data=MESSAGE, listing=True))
def messages(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    params = ctx.params
    ctx.index_for_search(params.text("q"))
    with ctx.read() as session:
        rows, total = list_message_rows(
            session,
            company_id=ctx.company_id,
            page=p,
            dialog_id=params.integer("dialog_id"),
            client_id=params.integer("client_id"),
            channel_id=params.integer("channel_id"),
            transport=params.text("transport"),
            type=params.text("type"),
            read=params.boolean("read"),
            operator_id=params.integer("operator_id"),
            start_date=params.date("start_date"),
            finish_date=params.date("finish_date"),
            start_id=params.integer("start_id"),
            order=params.text("order") or "desc",
            q=params.text("q"),
            include_hidden=bool(params.boolean("include_hidden", False)),
            capped=True,
        )
        return page(messages_out(session, rows), total=total, page=p, capped=True)


@router.get("/v1/messages/{message_id}", **doc("One message", data=MESSAGE))
def message(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_message(session, company_id=ctx.company_id, message_id=message_id)
        return ok(messages_out(session, [row])[0])
