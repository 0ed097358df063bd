"""Smaller endpoints: statistics, web analytics, QR decoding, token renewal.

Where Atendo has no such data (menus, web analytics) the answers are correctly shaped and
empty; nothing is invented.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import PAGING, Param, doc
from atendo.api.routes.shapes import obj
from atendo.core.automation.service import rating_report
from atendo.core.companies.service import regenerate_token
from atendo.core.errors import Invalid
from atendo.core.messages.service import STAT_REPORTS, statistics
from atendo.core.team.statuses import time_per_status
from atendo.kit.clock import utcnow

router = APIRouter()

REPORTS = (*STAT_REPORTS, "rating", "operator_events")

STAT_ROW = {
    "type": "object",
    "description": (
        "dialogs: {date, opened, closed, open_now}; messages: {type, count}; "
        "response_time: {operator_id, answers, average_seconds, median_seconds}; "
        "rating (or ratings): {valuation_request_id, score_value, rating_scale_score, "
        "rating_id, operator_id, client_id, dialog_id, channel_id, answer, created}"
    ),
}


def _empty(ctx: ApiContext) -> JSONResponse:
    p = ctx.page
    return ok([], meta={"total": 0, "limit": p.limit, "offset": p.offset})


@router.get(
    "/v1/statistics",
    tags=["statistics"],
    **doc(
        "Statistics of one day",
        [
            Param("report", "string", ", ".join(REPORTS), choices=REPORTS),
            Param("date", "string", "the day (YYYY-MM-DD, default today, UTC)"),
            *PAGING,
        ],
        data=STAT_ROW,
        listing=True,
        more={"report": {"type": "string"}, "date": {"type": "string", "format": "date"}},
    ),
)
def stats(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    report = ctx.params.text("report") or "dialogs"
    if report not in REPORTS:
        raise Invalid(f"report must be one of {', '.join(REPORTS)}", {"report": ["invalid report"]})
    day_text = ctx.params.text("date")
    if day_text:
        try:
            day = datetime.strptime(day_text[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise Invalid("date must be YYYY-MM-DD", {"date": ["YYYY-MM-DD"]}) from None
    else:
        now = utcnow()
        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    p = ctx.page
    with ctx.read() as session:
        if report == "operator_events":  # [ext] seconds per operator and status that day
            rows = time_per_status(
                session,
                company_id=ctx.company_id,
                since=day,
                until=min(day + timedelta(days=1), utcnow()),
            )
        elif report in ("rating", "ratings"):
            rows = rating_report(
                session, company_id=ctx.company_id, start=day, end=day + timedelta(days=1)
            )
        else:
            rows = statistics(
                session,
                company_id=ctx.company_id,
                report=report,
                start=day,
                end=day + timedelta(days=1),
            )
    return ok(
        rows[p.offset : p.offset + p.limit],
        meta={"total": len(rows), "limit": p.limit, "offset": p.offset},
        report=report,
        date=day.strftime("%Y-%m-%d"),
    )


@router.get(
    "/v1/web_analytics_data",
    tags=["statistics"],
    **doc(
        "Web analytics of clients (Atendo collects none: an empty list)",
        [
            Param("date_from", "date", "from (ISO 8601)"),
            Param("date_to", "date", "to (ISO 8601)"),
            Param("client_id", "integer", "the client"),
        ],
        data=obj({"client_id": "integer"}),
        listing=True,
    ),
)
def web_analytics(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    ctx.params.date("date_from")
    ctx.params.date("date_to")
    ctx.params.integer("client_id")
    return _empty(ctx)


@router.post(
    "/v1/qr-decode",
    tags=["misc"],
    **doc(
        "Decode a QR code image (Atendo has no decoder: always 422 with the reason)",
        [Param("image_path", "string", "URL or path of the image", required=True)],
        body=True,
    ),
)
def qr_decode(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    if not (ctx.params.text("image_path") or "").strip():
        raise Invalid("image_path is required", {"image_path": ["required"]})
    raise Invalid("No QR code could be decoded", {"image_path": ["QR decoding is not available"]})


@router.post(
    "/v1/companies/regenerate_token",
    tags=["companies"],
    **doc(
        "Issue a new API token; the old one stops working at once",
        ext=True,
        data=obj({"token": "string"}),
    ),
)
def new_token(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        token = regenerate_token(session, company_id=ctx.company_id)
    return ok({"token": token})
