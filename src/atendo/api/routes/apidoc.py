"""OpenAPI descriptions for handlers that read their parameters through ``ctx.params``.

FastAPI cannot see those parameters, so each route passes ``**doc(...)``: the summary, the
description (``[ext]`` marks Atendo's own additions) and ``openapi_extra`` with the query
parameters or the JSON request body built from ``(name, type, description)`` tuples.
"""

from __future__ import annotations

from typing import Any

Field = tuple[str, str, str]

_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "date": {"type": "string", "format": "date-time"},
    "integer[]": {"type": "array", "items": {"type": "integer"}},
    "string[]": {"type": "array", "items": {"type": "string"}},
}

PAGING: list[Field] = [
    ("limit", "integer", "page size (default 20, max 200)"),
    ("offset", "integer", "rows to skip"),
]


def doc(
    summary: str,
    fields: list[Field] | None = None,
    *,
    body: bool = False,
    ext: bool = False,
    description: str = "",
) -> dict[str, Any]:
    """Route keyword arguments describing ``fields`` (query string, or JSON body if ``body``).

    Either way the API also accepts every parameter from the query string, a form or JSON.
    """
    mark = " [ext]" if ext else ""
    extra: dict[str, Any] = {}
    fields = fields or []
    if fields and body:
        extra["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            name: {**_TYPES[kind], "description": text}
                            for name, kind, text in fields
                        },
                    }
                },
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {name: _TYPES[kind] for name, kind, _ in fields},
                    }
                },
            },
        }
    elif fields:
        extra["parameters"] = [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": _TYPES[kind],
            }
            for name, kind, text in fields
        ]
    text = description or summary
    return {
        "summary": summary + mark,
        "description": text + (" **[ext]** (an Atendo addition)" if ext else ""),
        "openapi_extra": extra or None,
    }
