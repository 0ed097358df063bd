"""/v1/messages (reading)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.serializers import messages_out
from atendo.core.messages.service import get_message, list_messages

router = APIRouter(tags=["messages"])


@router.get("/v1/messages")
def messages(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    params = ctx.params
    with ctx.read() as session:
        rows, total = list_messages(
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
        )
        return page(messages_out(session, rows), total=total, page=p)


@router.get("/v1/messages/{message_id}")
def message(message_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_message(session, company_id=ctx.company_id, message_id=message_id)
        return ok(messages_out(session, [row])[0])
