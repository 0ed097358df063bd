"""/v1/requests: support episodes inside dialogs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import ORDER, PAGING, Param, doc
from atendo.api.routes.shapes import MESSAGE, REQUEST, obj
from atendo.api.serializers import messages_out
from atendo.core.dialogs.models import Request
from atendo.core.dialogs.service import close_requests, get_dialog, get_request
from atendo.core.messages.service import list_messages
from atendo.kit.clock import iso

router = APIRouter(tags=["requests"])


def request_out(request: Request, channel_id: int | None) -> dict[str, Any]:
    return {
        "id": request.id,
        "dialog_id": request.dialog_id,
        "client_id": request.client_id,
        "channel_id": channel_id,
        "state": request.state,
        "begin": iso(request.begin),
        "end": iso(request.end),
    }


@router.put(
    "/v1/requests/close",
    **doc(
        "Close a request, or every open request of a client",
        [
            Param("request_id", "integer", "the request"),
            Param("client_id", "integer", "or: every open request of this client"),
        ],
        body=True,
        data=obj({"closed": "integer[]"}),
    ),
)
def close(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        rows = close_requests(
            session,
            company_id=ctx.company_id,
            request_id=ctx.params.integer("request_id"),
            client_id=ctx.params.integer("client_id"),
        )
        return ok({"closed": [r.id for r in rows]})


@router.get("/v1/requests/{request_id}", **doc("One request", data=REQUEST))
def one(request_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        request = get_request(session, company_id=ctx.company_id, request_id=request_id)
        dialog = get_dialog(session, company_id=ctx.company_id, dialog_id=request.dialog_id)
        return ok(request_out(request, dialog.channel_id))


@router.get(
    "/v1/requests/{request_id}/messages",
    **doc("The messages of a request", [*PAGING, ORDER], data=MESSAGE, listing=True),
)
def messages(request_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        get_request(session, company_id=ctx.company_id, request_id=request_id)
        rows, total = list_messages(
            session,
            company_id=ctx.company_id,
            page=p,
            request_id=request_id,
            order=ctx.params.text("order") or "asc",
        )
        return page(messages_out(session, rows), total=total, page=p)
