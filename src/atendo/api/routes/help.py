"""Reference data: /v1/help/*, countries, regions."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok, page
from atendo.api.routes.apidoc import PAGING, doc
from atendo.api.routes.shapes import STRINGS, array, obj
from atendo.core.enums import DialogState, MessageType, Role
from atendo.transports import registry

router = APIRouter(tags=["help"])

API_MODES = [
    {"name": "active", "description": "The company works normally."},
    {"name": "test", "description": "Test mode: messages are recorded but not delivered."},
]
COUNTRIES = [
    {"id": 1, "code": "BR", "name": "Brasil"},
    {"id": 2, "code": "PT", "name": "Portugal"},
    {"id": 3, "code": "US", "name": "United States"},
    {"id": 4, "code": "AO", "name": "Angola"},
    {"id": 5, "code": "MZ", "name": "Moçambique"},
]
REGIONS = [
    {"id": 1, "country_id": 1, "code": "SP", "name": "São Paulo"},
    {"id": 2, "country_id": 1, "code": "RJ", "name": "Rio de Janeiro"},
    {"id": 3, "country_id": 1, "code": "MG", "name": "Minas Gerais"},
    {"id": 4, "country_id": 2, "code": "LIS", "name": "Lisboa"},
    {"id": 5, "country_id": 2, "code": "POR", "name": "Porto"},
]

COUNTRY = obj({"id": "integer", "code": "string", "name": "string"})
REGION = obj({"id": "integer", "country_id": "integer", "code": "string", "name": "string"})


@router.get(
    "/v1/help/api_modes",
    **doc("The company modes", data=array(obj({"name": "string", "description": "string"}))),
)
def api_modes(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return ok(API_MODES)


@router.get("/v1/help/transports", **doc("The transports Atendo serves", data=STRINGS))
def transports(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return ok(registry.names())


@router.get("/v1/help/message_types", **doc("The message types", data=STRINGS))
def message_types(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return ok([t.value for t in MessageType])


@router.get("/v1/help/dialog_states", **doc("The dialog states", data=STRINGS))
def dialog_states(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return ok([s.value for s in DialogState])


@router.get("/v1/help/roles", **doc("The operator roles", data=STRINGS))
def roles(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    return ok([r.value for r in Role])


@router.get("/v1/countries", **doc("Countries", PAGING, data=COUNTRY, listing=True))
def countries(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    return page(COUNTRIES[p.offset : p.offset + p.limit], total=len(COUNTRIES), page=p)


@router.get("/v1/regions", **doc("Regions", PAGING, data=REGION, listing=True))
def regions(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.page
    return page(REGIONS[p.offset : p.offset + p.limit], total=len(REGIONS), page=p)
