"""Text longer than its column is refused alike on SQLite and PostgreSQL (issue 18).

PostgreSQL refuses a value longer than its ``VARCHAR(n)`` (the whole statement fails with a
``DataError``: a 422 page at best, a lost write at worst); SQLite stores it without a word.
So every row the ORM writes is checked against its model's column widths first, by one hook
on the declarative base (:func:`check_lengths`, before each INSERT and UPDATE): a value too
long is a :class:`TooLong` -- 422, code ``too_long``, naming the field and its limit -- on
both databases, from whichever state-change function wrote it (API, panel, CLI, workers).
The widths are read from the models, never written twice: :func:`column_length` gives one to
whoever documents it (the API's parameters).

Writes through Core statements (``insert()``/``update()`` with values) are not seen here: their
callers bound what they write (mail fields: :mod:`atendo.transports.email.bounds`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import InstrumentedAttribute, Mapper

from atendo.core.errors import Invalid
from atendo.kit.db import Base


class TooLong(Invalid):
    code = "too_long"

    def __init__(self, *, field: str, limit: int) -> None:
        super().__init__(f"{field} is too long", {field: [f"at most {limit} characters"]})
        self.params = {"field": field, "limit": limit}


def column_length(attribute: InstrumentedAttribute[Any]) -> int:
    """The width of a model's ``String(n)`` column (``column_length(Tag.label)`` → 200)."""
    length = getattr(attribute.property.columns[0].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{attribute} is not a column of bounded width")
    return length


def check_length(attribute: InstrumentedAttribute[Any], value: str, *, field: str = "") -> None:
    """:class:`TooLong` when ``value`` is longer than ``attribute``'s column (``field``: the
    name the caller knows it by, else the column's): the early check of a state-change
    function, with the limit from the model."""
    width = column_length(attribute)
    if len(value) > width:
        raise TooLong(field=field or attribute.key, limit=width)


@cache
def _widths(mapper: Mapper[Any]) -> tuple[tuple[str, int], ...]:
    """(attribute, width) of each bounded text column of a model."""
    return tuple(
        (prop.key, column.type.length)
        for prop in mapper.column_attrs
        for column in prop.columns[:1]
        if isinstance(column.type, String) and column.type.length
    )


def check_lengths(row: Base, *, changed_only: bool = False) -> None:
    """Raise :class:`TooLong` for the first value of ``row`` longer than its column (only the
    values already in memory are looked at: nothing is loaded for this). ``changed_only``: only
    the values changed since the row was read (an UPDATE), so that a row SQLite stored before
    this check, with a value too long, can still have its other columns changed."""
    state = inspect(row)
    values = state.dict
    for key, width in _widths(state.mapper):
        value = values.get(key)
        if not isinstance(value, str) or len(value) <= width:
            continue
        if changed_only and not state.attrs[key].history.has_changes():
            continue
        raise TooLong(field=key, limit=width)


def _before_insert(mapper: Mapper[Any], connection: Any, row: Base) -> None:
    check_lengths(row)


def _before_update(mapper: Mapper[Any], connection: Any, row: Base) -> None:
    check_lengths(row, changed_only=True)


event.listen(Base, "before_insert", _before_insert, propagate=True)
event.listen(Base, "before_update", _before_update, propagate=True)
