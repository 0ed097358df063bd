"""/v1/clients."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import ORDER, PAGING, Param, doc
from atendo.api.routes.shapes import CLIENT, DIALOG, MESSAGE, array, nullable, obj
from atendo.api.serializers import clients_out, dialogs_out, messages_out
from atendo.core.clients.service import (
    client_identities,
    get_client,
    list_client_rows,
)
from atendo.core.dialogs.service import list_dialogs
from atendo.core.enums import MessageType
from atendo.core.messages.service import list_messages
from atendo.kit.pagination import Page

router = APIRouter(tags=["clients"])


@router.get(
    "/v1/clients",
    **doc(
        "The company's clients",
        [
            Param("phone", "string", "only the client with this phone"),
            Param("email", "string", "only the client with this e-mail address", ext=True),
            Param("tags", "integer[]", "only clients with these tags"),
            Param("search", "string", "name, phone or e-mail contains this", ext=True),
            Param(
                "q",
                "string",
                "name, address, phone or tag contains this (accents and case ignored)",
                ext=True,
            ),
            ORDER,
            *PAGING,
        ],
        data=CLIENT,
        listing=True,
    ),
)
def clients(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    ctx.index_for_search(ctx.params.text("q"))
    with ctx.read() as session:
        rows, total = list_client_rows(
            session,
            company_id=ctx.company_id,
            page=p,
            phone=ctx.params.text("phone"),
            email=ctx.params.text("email"),
            tag_ids=ctx.params.integers("tags"),
            search=ctx.params.text("search"),
            order=ctx.params.text("order") or "asc",
            q=ctx.params.text("q"),
            capped=True,
        )
        return page(clients_out(session, rows), total=total, page=p, capped=True)


@router.get("/v1/clients/{client_id}", **doc("One client", data=CLIENT))
def client(client_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        row = get_client(session, company_id=ctx.company_id, client_id=client_id)
        return ok(clients_out(session, [row])[0])


@router.get(
    "/v1/clients/{client_id}/transport",
    **doc(
        "The client's identities (transport and address)",
        data=array(obj({"transport": "string", "address": "string"})),
    ),
)
def client_transport(client_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        get_client(session, company_id=ctx.company_id, client_id=client_id)
        idents = client_identities(session, company_id=ctx.company_id, client_id=client_id)
        return ok([{"transport": i.transport, "address": i.address} for i in idents])


@router.get(
    "/v1/clients/{client_id}/dialogs",
    **doc("The client's dialogs", PAGING, data=DIALOG, listing=True),
)
def client_dialogs(client_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    with ctx.read() as session:
        get_client(session, company_id=ctx.company_id, client_id=client_id)
        rows, total = list_dialogs(session, company_id=ctx.company_id, page=p, client_id=client_id)
        return page(dialogs_out(session, rows), total=total, page=p)


@router.get(
    "/v1/clients/{client_id}/last_question",
    **doc("The client's last message (null if none)", data=nullable(MESSAGE)),
)
def last_question(client_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        get_client(session, company_id=ctx.company_id, client_id=client_id)
        rows, _ = list_messages(
            session,
            company_id=ctx.company_id,
            page=Page.of(1, 0),
            client_id=client_id,
            type=MessageType.FROM_CLIENT,
        )
        return ok(messages_out(session, rows)[0] if rows else None)
