"""/v1/dialogs."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import ORDER, PAGING, Param, doc
from atendo.api.routes.shapes import DIALOG, DIALOG_DETAIL
from atendo.api.serializers import dialogs_out, timeline_out
from atendo.core.companies.service import list_audit
from atendo.core.dialogs.service import get_dialog, list_dialogs

router = APIRouter(tags=["dialogs"])

FILTERS = [
    Param("operator_id", "integer", "only this operator's"),
    Param("state", "string", "open or closed", choices=("open", "closed")),
    Param("channel_id", "integer", "only this channel's", ext=True),
    Param("client_id", "integer", "only this client's", ext=True),
    ORDER,
    *PAGING,
]


@router.get("/v1/dialogs", **doc("Dialogs", FILTERS, data=DIALOG, listing=True))
def dialogs(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return _list(ctx, unanswered=False)


@router.get(
    "/v1/dialogs/unanswered",
    **doc("Open dialogs whose last message is the client's", FILTERS, data=DIALOG, listing=True),
)
def unanswered(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return _list(ctx, unanswered=True)


def _list(ctx: ApiContext, *, unanswered: bool) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        rows, total = list_dialogs(
            session,
            company_id=ctx.company_id,
            page=p,
            operator_id=ctx.params.integer("operator_id"),
            state=ctx.params.text("state"),
            channel_id=ctx.params.integer("channel_id"),
            client_id=ctx.params.integer("client_id"),
            unanswered=unanswered,
            order=ctx.params.text("order") or "desc",
        )
        return page(dialogs_out(session, rows), total=total, page=p)


@router.get(
    "/v1/dialogs/{dialog_id}",
    **doc("One dialog (with its timeline)", data=DIALOG_DETAIL),
)
def dialog(dialog_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_dialog(session, company_id=ctx.company_id, dialog_id=dialog_id)
        entries, _total = list_audit(session, company_id=ctx.company_id, dialog_id=row.id)
        return ok({**dialogs_out(session, [row])[0], "events": timeline_out(entries)})
