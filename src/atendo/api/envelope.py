"""The Chat2Desk response envelope."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from atendo.kit.pagination import Page


def ok(data: Any = None, *, status_code: int = 200, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"status": "success", "data": data if data is not None else {}}
    body.update(extra)
    return JSONResponse(body, status_code=status_code)


def page(data: list[Any], *, total: int, page: Page) -> JSONResponse:
    return ok(data, meta={"total": total, "limit": page.limit, "offset": page.offset})


def error(
    message: str, *, status_code: int, errors: dict[str, list[str]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"status": "error", "message": message}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status_code)
