"""OpenAPI descriptions for handlers that read their parameters through ``ctx.params``.

FastAPI cannot see those parameters, so every route passes ``**doc(...)``: the summary, the
description (``[ext]`` marks Atendo's own additions), the parameters (query string, or a JSON /
form body) built from :class:`Param` rows, the success envelope with the shape of its
``data``, the error envelope, and the ``Authorization`` token scheme.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import APIKeyHeader

from atendo.api.context import ApiContext, api_context
from atendo.api.params import INT_MAX, INT_MIN
from atendo.core.errors import NotFound
from atendo.core.lengths import TooLong

Schema = dict[str, Any]

EXT = "[ext]"


class Param(NamedTuple):
    """One documented parameter; ``ext`` marks an Atendo addition to Chat2Desk's API."""

    name: str
    kind: str
    text: str
    required: bool = False
    ext: bool = False
    choices: tuple[str, ...] = ()
    max_length: int | None = None  # the column's width: longer text is refused (422)


_TYPES: dict[str, Schema] = {
    "string": {"type": "string"},
    "integer": {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "date": {"type": "string", "format": "date-time"},
    "integer[]": {
        "type": "array",
        "items": {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
    },
    "string[]": {"type": "array", "items": {"type": "string"}},
    # A file: its URL in a JSON or form body, the file itself in a multipart upload.
    "file": {"type": "string"},
}
BINARY: Schema = {"type": "string", "format": "binary"}

PAGING: list[Param] = [
    Param("limit", "integer", "page size (default 20, max 200)"),
    Param("offset", "integer", "rows to skip"),
]
ORDER = Param("order", "string", "asc or desc (by time)")

# Declared so /docs has an "Authorize" button and clients see how to authenticate; it reads the
# header without refusing anything (the API context answers 401 in the Chat2Desk envelope).
TOKEN = APIKeyHeader(
    name="Authorization",
    scheme_name="token",
    description="The company's API token (`Authorization: <token>`; `Bearer <token>` too)",
    auto_error=False,
)


async def ids_in_range(request: Request, ctx: ApiContext = Depends(api_context)) -> None:
    """An id no database row can have is simply not found (not a crash in the driver).

    After the token check (a stranger still gets 401); ``async`` so that FastAPI calls it
    inline instead of through the thread pool."""
    for value in request.path_params.values():
        text = str(value).strip().lstrip("+-")
        if text.isdigit() and int(text) > INT_MAX:
            raise NotFound()


ERROR: Schema = {
    "type": "object",
    "required": ["status", "message"],
    "properties": {
        "status": {"const": "error"},
        "message": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "field → reasons",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
META: Schema = {
    "type": "object",
    "required": ["total", "limit", "offset"],
    "properties": {
        **{k: {"type": "integer"} for k in ("total", "limit", "offset")},
        "total_exact": {
            "type": "boolean",
            "description": "[ext] present (false) when counting stopped 10,000 past the page:"
            " total is then a lower bound",
        },
    },
}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": ERROR}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or wrong token: `You need to auth`"),
    422: _error("Invalid parameters: `errors` names each field"),
    "4XX": _error(
        "404 `Page not found`, 409 conflict, 413 body too large, "
        "429 `Number of API requests exceeded`"
    ),
}


def envelope(
    data: Schema | None = None, *, listing: bool = False, more: Schema | None = None
) -> Schema:
    """The success envelope around ``data`` (a list of ``data`` items, with meta, if listing),
    with ``more`` top-level fields."""
    inner = data if data is not None else {}
    props: Schema = {"status": {"const": "success"}, **(more or {})}
    if listing:
        props["data"] = {"type": "array", "items": inner}
        props["meta"] = META
    else:
        props["data"] = inner
    required = [*props]
    return {"type": "object", "required": required, "properties": props}


def _describe(p: Param) -> str:
    return f"{EXT} {p.text}" if p.ext else p.text


def _schema(p: Param) -> Schema:
    schema = dict(_TYPES[p.kind])
    if p.choices:
        schema["enum"] = list(p.choices)
    if p.max_length and p.kind == "string":
        schema["maxLength"] = p.max_length
    elif p.max_length:
        schema["items"] = {**schema["items"], "maxLength": p.max_length}
    return schema


def _length_check(fields: list[Param]) -> list[Any]:
    """A dependency refusing text longer than its documented ``max_length`` (after the token
    check, so a stranger still gets 401), or none when no field has a limit."""
    bounded = [(p.name, p.kind.endswith("[]"), p.max_length) for p in fields if p.max_length]
    if not bounded:
        return []

    async def lengths(ctx: ApiContext = Depends(api_context)) -> None:
        for name, listed, limit in bounded:
            if listed:
                values = [str(v) for v in ctx.params.items(name)]
            else:
                values = [ctx.params.text(name) or ""]
            if any(len(v) > limit for v in values):
                raise TooLong(field=name, limit=limit)

    return [Depends(lengths)]


def _body(fields: list[Param]) -> Schema:
    def schema(with_text: bool, *, uploads: bool = False) -> Schema:
        out: Schema = {
            "type": "object",
            "properties": {
                p.name: {
                    **(BINARY if uploads and p.kind == "file" else _schema(p)),
                    **({"description": _describe(p)} if with_text else {}),
                }
                for p in fields
            },
        }
        required = [p.name for p in fields if p.required]
        if required:
            out["required"] = required
        return out

    content = {
        "application/json": {"schema": schema(True)},
        "application/x-www-form-urlencoded": {"schema": schema(False)},
    }
    if any(p.kind == "file" for p in fields):
        content["multipart/form-data"] = {"schema": schema(False, uploads=True)}
    return {"required": any(p.required for p in fields), "content": content}


def _query(fields: list[Param]) -> list[Schema]:
    return [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": _describe(p),
            "schema": _schema(p),
        }
        for p in fields
    ]


def doc(
    summary: str,
    fields: list[Param] | None = None,
    *,
    body: bool = False,
    ext: bool = False,
    description: str = "",
    data: Schema | None = None,
    listing: bool = False,
    status: int = 200,
    media: str | None = None,
    more: Schema | None = None,
) -> dict[str, Any]:
    """Route keyword arguments documenting one endpoint.

    ``fields`` go to the query string, or to a JSON/form body if ``body`` (the API accepts
    every parameter all three ways anyway). ``data`` is the schema of the envelope's ``data``
    (of each item if ``listing``), ``more`` its other top-level fields; ``media`` replaces the
    envelope with a raw download.
    """
    extra: dict[str, Any] = {}
    fields = fields or []
    if fields and body:
        extra["requestBody"] = _body(fields)
    elif fields:
        extra["parameters"] = _query(fields)
    if media:
        content = {media: {"schema": {"type": "string", "format": "binary"}}}
    else:
        content = {"application/json": {"schema": envelope(data, listing=listing, more=more)}}
    text = description or summary
    kwargs: dict[str, Any] = {"response_class": Response} if media else {}
    return {
        **kwargs,
        "summary": summary if (not ext or EXT in summary) else f"{summary} {EXT}",
        "description": text + (" **[ext]** (an Atendo addition)" if ext else ""),
        "status_code": status,
        "responses": {status: {"description": "Success", "content": content}, **ERRORS},
        "dependencies": [Depends(TOKEN), Depends(ids_in_range), *_length_check(fields)],
        "openapi_extra": extra or None,
    }
