"""limit/offset paging with the API's bounds (default 20, max 200)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, any_, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

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


# ``meta.total`` of the API lists is exact while the matches are at most this many past the
# page's end; beyond, counting stops there (``total`` is then that bound + 1 and the meta says
# ``"total_exact": false``). Counting a company's 100,000 dialogs for every page cost more than
# reading the page itself; a client paging through with ``offset < total`` still reaches the
# end, since the bound moves with the offset.
TOTAL_CAP = 10_000


def total_bound(page: Page) -> int:
    """The largest ``total`` counted exactly for this page."""
    return page.offset + page.limit + TOTAL_CAP


def total_is_exact(total: int, page: Page) -> bool:
    return total <= total_bound(page)


def count_capped(
    session: Session,
    stmt: Select[Any],
    page: Page,
    *,
    ordering: ColumnElement[Any] | None = None,
) -> int:
    """How many rows ``stmt`` finds, counted up to :func:`total_bound` + 1. ``ordering``: the
    rows counted are the first in that order — the same number, but the planner then reads them
    from the index that serves the order (an index-only scan) where it would otherwise scan
    the table for the first ones it meets (PostgreSQL's default ``random_page_cost`` prices
    the index above 114 pages of ``clients``, and the scan costs several times the index's)."""
    bound = total_bound(page)
    sub = stmt.with_only_columns(literal(1)).order_by(None)
    if ordering is not None:
        sub = sub.order_by(ordering)
    return session.scalar(select(func.count()).select_from(sub.limit(bound + 1).subquery())) or 0


def count_total(
    session: Session,
    stmt: Select[Any],
    page: Page,
    *,
    capped: bool,
    shown: int | None = None,
    ordering: ColumnElement[Any] | None = None,
) -> int:
    """How many rows ``stmt`` finds: exactly, or up to the bound when ``capped`` (counted in
    ``ordering``: see :func:`count_capped`). ``shown``: the length of the page already read —
    a page that is not full and not past the end tells the total itself, without counting."""
    if shown is not None and shown < page.limit and (shown > 0 or page.offset == 0):
        return page.offset + shown
    if capped:
        return count_capped(session, stmt, page, ordering=ordering)
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def read_page(
    session: Session,
    stmt: Select[Any],
    page: Page,
    *,
    ordering: ColumnElement[Any],
    capped: bool,
    fetch: Callable[[Session, Select[Any]], list[Any]],
    total: int | None = None,
    count_in_order: bool = False,
) -> tuple[list[Any], int]:
    """The page of ``stmt`` in ``ordering``, read by ``fetch`` (ORM objects or plain rows:
    ``atendo.kit.db.entities`` / ``table_rows``), and how many rows ``stmt`` finds
    (:func:`count_total`, capped ones counted in ``ordering`` when ``count_in_order``;
    ``total`` when already known)."""
    rows = fetch(session, stmt.order_by(ordering).limit(page.limit).offset(page.offset))
    if total is not None:
        return rows, total
    counted_in = ordering if count_in_order else None
    return rows, count_total(
        session, stmt, page, capped=capped, shown=len(rows), ordering=counted_in
    )


def among_found(
    session: Session,
    stmt: Select[Any],
    page: Page,
    *,
    key: ColumnElement[int] | QueryableAttribute[int],
    base: Select[Any],
) -> tuple[Select[Any], int]:
    """A search's page without a ``COUNT`` (PostgreSQL): the keys ``stmt`` finds are read
    first, up to :func:`total_bound` + 1 — the search runs once — and then (``base`` narrowed
    to those keys: the statement of the page, read by primary key; their number, the total).
    Past the bound: (``stmt`` itself, the bound + 1), as :func:`count_capped` would say."""
    bound = total_bound(page)
    keys = list(session.scalars(stmt.with_only_columns(key).order_by(None).limit(bound + 1)))
    if len(keys) > bound:
        return stmt, bound + 1
    return base.where(key == any_(bindparam("found_keys", keys, type_=ARRAY(Integer)))), len(keys)
