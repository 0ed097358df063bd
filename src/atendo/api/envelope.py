"""The Chat2Desk response envelope."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from atendo.kit.pagination import Page, total_is_exact


class FastJSONResponse(JSONResponse):
    """The JSON body encoded by orjson: the same compact, UTF-8 (not ASCII-escaped) text as
    Starlette's ``json.dumps``, several times faster on a page of dialogs or messages."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any = None, *, status_code: int = 200, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"status": "success", "data": data if data is not None else {}}
    body.update(extra)
    return FastJSONResponse(body, status_code=status_code)


def page(data: list[Any], *, total: int, page: Page, capped: bool = False) -> JSONResponse:
    """A list's envelope. ``capped``: ``total`` was counted by
    :func:`atendo.kit.pagination.count_capped`; when it stopped at its bound the meta adds
    ``"total_exact": false`` [ext]."""
    meta: dict[str, Any] = {"total": total, "limit": page.limit, "offset": page.offset}
    if capped and not total_is_exact(total, page):
        meta["total_exact"] = False
    return ok(data, meta=meta)


_CODE_BY_STATUS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
}


def error(
    message: str,
    *,
    status_code: int,
    errors: dict[str, list[str]] | None = None,
    code: str | None = None,
) -> JSONResponse:
    """The error envelope; ``code`` [ext] is the stable name of the error
    (``atendo.core.errors.CODES``), the message stays English."""
    body: dict[str, Any] = {"status": "error", "message": message}
    body["code"] = code or _CODE_BY_STATUS.get(status_code, "error")
    if errors:
        body["errors"] = errors
    return FastJSONResponse(body, status_code=status_code)
