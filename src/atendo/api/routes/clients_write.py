"""/v1/clients (writing) and /v1/custom_client_fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import CLIENT, extend, obj
from atendo.api.serializers import clients_out
from atendo.core.channels.service import get_channel
from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.clients.service import (
    create_or_get_client,
    custom_client_fields,
    update_client,
)
from atendo.core.lengths import column_length

router = APIRouter(tags=["clients"])

CREATED_CLIENT = extend(CLIENT, {"created_now": "boolean"})


@router.post(
    "/v1/clients",
    **doc(
        "Create a client, or return the one with this phone or e-mail",
        [
            Param(
                "phone",
                "string",
                "the client's phone (phone-identified clients)",
                max_length=column_length(Client.phone),
            ),
            Param(
                "email",
                "string",
                "the client's e-mail address",
                ext=True,
                max_length=column_length(ClientIdentity.address),
            ),
            Param("transport", "string", "transport of the identity (email, external, …)"),
            Param("channel_id", "integer", "channel the client belongs to"),
            Param("nickname", "string", "the client's name", max_length=column_length(Client.name)),
        ],
        body=True,
        data=CREATED_CLIENT,
    ),
)
def create_client(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    channel_id = p.integer("channel_id")
    with ctx.write() as session:
        if channel_id is not None:
            get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        client, created = create_or_get_client(
            session,
            company_id=ctx.company_id,
            phone=p.text("phone"),
            email=p.text("email"),
            nickname=p.text("nickname") or p.text("name") or "",
        )
        data = clients_out(session, [client])[0]
        data["created_now"] = created
        return ok(data)


@router.put(
    "/v1/clients/{client_id}",
    **doc(
        "Change a client",
        [
            Param(
                "nickname",
                "string",
                "the name operators see (assigned_name)",
                max_length=column_length(Client.assigned_name),
            ),
            Param(
                "name",
                "string",
                "the client's own name",
                ext=True,
                max_length=column_length(Client.name),
            ),
            Param("comment", "string", "comment"),
            Param("extra_comment_1", "string", "extra comment 1"),
            Param("extra_comment_2", "string", "extra comment 2"),
            Param("extra_comment_3", "string", "extra comment 3"),
            Param("custom_fields", "object", "custom fields, merged into the stored ones"),
            Param(
                "external_id",
                "string",
                "the client's id in your system",
                max_length=column_length(Client.external_id),
            ),
            Param("phone", "string", "phone", max_length=column_length(Client.phone)),
        ],
        body=True,
        data=CLIENT,
    ),
)
def change_client(client_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    changes: dict[str, Any] = {
        key: p.text(key)
        for key in (
            "name",
            "comment",
            "extra_comment_1",
            "extra_comment_2",
            "extra_comment_3",
            "external_id",
            "phone",
            "assigned_name",
        )
        if p.has(key)
    }
    if p.has("nickname"):
        changes["assigned_name"] = p.text("nickname")
    if p.has("custom_fields"):
        changes["custom_fields"] = p.mapping("custom_fields")
    with ctx.write() as session:
        client = update_client(
            session, company_id=ctx.company_id, client_id=client_id, changes=changes
        )
        return ok(clients_out(session, [client])[0])


@router.get(
    "/v1/custom_client_fields",
    **doc(
        "Custom client field names in use",
        data=obj({"id": "integer", "name": "string"}),
        listing=True,
    ),
)
def custom_fields(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        names = custom_client_fields(session, company_id=ctx.company_id)
    data = [{"id": i, "name": n} for i, n in enumerate(names, start=1)]
    return ok(data, meta={"total": len(data), "limit": len(data), "offset": 0})
