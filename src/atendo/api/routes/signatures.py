"""/v1/channels/{id}/signatures [ext]: the e-mail signatures of a channel."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import SIGNATURES
from atendo.core.channels.service import get_channel
from atendo.core.channels.signatures import read_signatures, save_signatures
from atendo.core.errors import Invalid

router = APIRouter(tags=["channels"])

FIELDS = [
    Param("operators_enabled", "boolean", "use the operator's own signature when they have one"),
    Param("general_enabled", "boolean", "else use the general signature"),
    Param("general", "string", "the general signature (plain text with {variables})"),
    Param("operators", "object", '{"<operator_id>": "signature"}'),
]


@router.get(
    "/v1/channels/{channel_id}/signatures",
    **doc("A channel's signatures [ext]", ext=True, data=SIGNATURES),
)
def signatures(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        channel = get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        return ok(read_signatures(session, channel=channel))


@router.put(
    "/v1/channels/{channel_id}/signatures",
    **doc("Change a channel's signatures [ext]", FIELDS, body=True, ext=True, data=SIGNATURES),
)
def update_signatures(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    operators = p.mapping("operators")
    general = p.text("general") if p.has("general") else None
    with ctx.write() as session:
        channel = get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        if operators is not None and not all(
            isinstance(v, str) or v is None for v in operators.values()
        ):
            raise Invalid("Signatures must be text", {"operators": ["values must be strings"]})
        data = save_signatures(
            session,
            channel=channel,
            operators_enabled=p.boolean("operators_enabled"),
            general_enabled=p.boolean("general_enabled"),
            general=general if general is not None else None,
            operators={str(k): str(v or "") for k, v in operators.items()} if operators else None,
        )
        return ok(data)
