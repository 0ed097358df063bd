"""/v1/companies: api_info, rename, mode."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo import __version__
from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import obj
from atendo.core.channels.service import list_channels
from atendo.core.companies.models import Company
from atendo.core.companies.service import get_company, rename_company, requests_this_month
from atendo.core.errors import Invalid
from atendo.core.lengths import column_length
from atendo.core.webhooks.service import webhook_by_name

router = APIRouter(tags=["companies"])

API_INFO = obj(
    {
        "company_name": "string",
        "mode": "string",
        "channels": "integer",
        "requests_this_month": "integer",
        "current_version": "string",
        "hook": "string?",
    },
    ext={"company_id": "integer"},
)


@router.get(
    "/v1/companies/api_info",
    **doc("The company, its channel count and this month's API requests", data=API_INFO),
)
def api_info(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        company = get_company(session, ctx.company_id)
        _, channels = list_channels(session, company_id=ctx.company_id)
        legacy_hook = webhook_by_name(session, company_id=ctx.company_id, name="default")
        return ok(
            {
                "company_id": company.id,
                "company_name": company.name,
                "mode": company.mode,
                "channels": channels,
                "requests_this_month": requests_this_month(company),
                "current_version": __version__,
                "hook": legacy_hook.url if legacy_hook is not None else None,
            }
        )


@router.put(
    "/v1/companies",
    **doc(
        "Rename the company",
        [
            Param(
                "name",
                "string",
                "the new name",
                required=True,
                max_length=column_length(Company.name),
            )
        ],
        body=True,
        data=obj({"id": "integer", "name": "string"}),
    ),
)
def update_company(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    name = (ctx.params.text("name") or "").strip()
    if not name:
        raise Invalid("name is required", {"name": ["required"]})
    with ctx.write() as session:
        company = rename_company(session, company_id=ctx.company_id, name=name)
        return ok({"id": company.id, "name": company.name})


@router.put(
    "/v1/companies/switch_mode",
    **doc(
        "Switch the company's mode",
        [Param("mode", "string", "active or test", required=True, choices=("active", "test"))],
        body=True,
        data=obj({"mode": "string"}),
    ),
)
def switch_mode(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    mode = ctx.params.text("mode")
    if mode not in ("active", "test"):
        raise Invalid("mode must be active or test", {"mode": ["active or test"]})
    with ctx.write() as session:
        company = get_company(session, ctx.company_id)
        company.mode = mode
        return ok({"mode": mode})
