"""Folding text for search: case and accents removed ("Araújo" → "araujo", "ÇÃO" → "cao").

The same folding runs in Python (the search index, the query) and in SQL (``atendo_fold``:
a function registered on every SQLite connection, and a SQL function created by the
migration on PostgreSQL), so both sides of a comparison are folded alike.
"""

from __future__ import annotations

import unicodedata

# The letters PostgreSQL's ``atendo_fold`` translates (it cannot decompose): keep in step with
# the migration 0010_panel. Python's fold covers every combining mark.
PG_FROM = "ÁÀÂÃÄÅáàâãäåÉÈÊËéèêëÍÌÎÏíìîïÓÒÔÕÖóòôõöÚÙÛÜúùûüÇçÑñÝýÿ"
PG_TO = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuCcNnYyy"


def fold(text: str | None) -> str:
    """Lower case, no diacritics, runs of white space made one space."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def like_pattern(query: str) -> str:
    """A folded ``LIKE`` pattern matching the query anywhere (``%`` and ``_`` escaped with
    ``\\``)."""
    folded = fold(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{folded}%"
