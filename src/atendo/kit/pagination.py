"""limit/offset paging with the API's bounds (default 20, max 200)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def of(cls, limit: int | None, offset: int | None) -> Page:
        lim = DEFAULT_LIMIT if limit is None else max(1, min(MAX_LIMIT, limit))
        off = 0 if offset is None else max(0, offset)
        return cls(lim, off)
