"""/v1/dialogs."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import ORDER, PAGING, Param, doc
from atendo.api.routes.shapes import DIALOG, DIALOG_DETAIL, array, kind, obj
from atendo.api.serializers import dialogs_out, timeline_out
from atendo.core.companies.service import list_audit
from atendo.core.dialogs.bulk import BulkAction, apply_bulk
from atendo.core.dialogs.service import get_dialog, list_dialog_rows
from atendo.core.errors import Invalid

router = APIRouter(tags=["dialogs"])

FILTERS = [
    Param("operator_id", "integer", "only this operator's"),
    Param("state", "string", "open or closed", choices=("open", "closed")),
    Param("channel_id", "integer", "only this channel's", ext=True),
    Param("client_id", "integer", "only this client's", ext=True),
    Param(
        "q",
        "string",
        "client name, address, phone, subject, message text or tag contains this"
        " (accents and case ignored)",
        ext=True,
    ),
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
    ctx.index_for_search(ctx.params.text("q"))
    with ctx.read() as session:
        rows, total = list_dialog_rows(
            session,
            company_id=ctx.company_id,
            page=p,
            operator_id=ctx.params.integer("operator_id"),
            state=ctx.params.text("state"),
            channel_id=ctx.params.integer("channel_id"),
            client_id=ctx.params.integer("client_id"),
            unanswered=unanswered,
            order=ctx.params.text("order") or "desc",
            search=ctx.params.text("q"),
            capped=True,
        )
        return page(dialogs_out(session, rows), total=total, page=p, capped=True)


@router.get(
    "/v1/dialogs/{dialog_id}",
    **doc("One dialog (with its timeline)", data=DIALOG_DETAIL),
)
def dialog(dialog_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_dialog(session, company_id=ctx.company_id, dialog_id=dialog_id)
        entries, _total = list_audit(session, company_id=ctx.company_id, dialog_id=row.id)
        return ok({**dialogs_out(session, [row])[0], "events": timeline_out(entries)})


BULK = obj({"dialog_ids": array(kind("integer")), "count": "integer"})


@router.put(
    "/v1/dialogs",
    **doc(
        "One change to many dialogs (bulk)",
        [
            Param("dialog_ids", "integer[]", "the dialogs (at most 5000)", ext=True),
            Param("state", "string", "closed: close them", choices=("closed",), ext=True),
            Param("operator_id", "integer", "assign them to this operator", ext=True),
            Param("group_id", "integer", "transfer them to this group", ext=True),
            Param("unassign", "boolean", "true: nobody is responsible", ext=True),
            Param("tag_id", "integer", "tag their request (else their client)", ext=True),
            Param("read", "boolean", "true: mark them read", ext=True),
        ],
        body=True,
        ext=True,
        description="Give exactly one change. Every dialog must be the company's (else 404 "
        "and nothing changes); each gets its own audit entry and the same events and "
        "webhooks as a change made to it alone.",
        data=BULK,
    ),
)
def bulk_dialogs(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    ids = p.integers("dialog_ids")
    actions = []
    if p.has("state"):
        if p.text("state") != "closed":
            raise Invalid("state must be closed", {"state": ["must be closed"]})
        actions.append(BulkAction("close"))
    if p.has("operator_id") or p.has("group_id") or p.boolean("unassign"):
        actions.append(
            BulkAction(
                "assign", operator_id=p.integer("operator_id"), group_id=p.integer("group_id")
            )
        )
    if p.has("tag_id"):
        actions.append(BulkAction("tag", tag_id=p.integer("tag_id")))
    if p.boolean("read"):
        actions.append(BulkAction("read"))
    if len(actions) != 1:
        raise Invalid(
            "Give exactly one change: state, operator_id, group_id, unassign, tag_id or read",
            {"action": ["exactly one"]},
        )
    with ctx.write() as session:
        count = apply_bulk(
            session,
            company_id=ctx.company_id,
            dialog_ids=ids,
            action=actions[0],
            actor=ctx.actor,
        )
    return ok({"dialog_ids": list(dict.fromkeys(ids)), "count": count})
