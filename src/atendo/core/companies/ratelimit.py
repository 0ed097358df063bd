"""The per-token API rate limit, shared by every process on PostgreSQL.

A sliding minute, estimated from two fixed ones (the "sliding window counter"): each token has
a row per Unix minute in ``api_rate_windows``; a request adds one to the current minute's row
with one atomic upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``) and is let through
when

    hits(this minute) + hits(previous minute) × (share of the previous minute still inside
    the last 60 seconds) ≤ limit

Every ``atendo serve`` process counts in the same rows, so two processes allow the limit
once, not twice. The previous minute counts at most ``limit`` (a client that kept knocking
while refused is not held back longer for it). Rows older than two minutes are deleted by
``forget_old_windows``.

On SQLite there is one process, and the API counts in memory instead (``atendo.api.usage``).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, func, literal, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from atendo.core.companies.models import ApiRateWindow, ApiToken
from atendo.kit.crypto import hash_token


def within_limit(
    session: Session, *, company_id: int, token: str, limit: int, now: datetime
) -> bool:
    """Count one request of ``token`` at ``now``; True when it is within ``limit``/minute."""
    key = hash_token(token)
    seconds = now.timestamp()
    minute = int(seconds // 60)
    carry_share = 1.0 - (seconds % 60) / 60
    previous = (
        select(ApiRateWindow.hits)
        .where(
            ApiRateWindow.company_id == company_id,
            ApiRateWindow.token_hash == key,
            ApiRateWindow.window_start == minute - 1,
        )
        .scalar_subquery()
    )
    hit = (
        insert(ApiRateWindow)
        .values(company_id=company_id, token_hash=key, window_start=minute, hits=1)
        .on_conflict_do_update(
            index_elements=["company_id", "token_hash", "window_start"],
            set_={"hits": ApiRateWindow.hits + 1},
        )
        .returning(ApiRateWindow.hits)
        .cte("hit")
    )
    # One round trip: the upsert, the previous minute as it was before it, and this
    # transaction's commit made asynchronous (no wait for the WAL flush on every API request:
    # a crash may forget the last fraction of a second of counting, nothing else).
    hits, previous, _async = session.execute(
        select(hit.c.hits, previous, func.set_config("synchronous_commit", "off", True))
    ).one()
    carried = min(previous or 0, limit) * carry_share
    return bool(hits + carried <= limit)


def forget_old_windows(session: Session, *, company_ids: list[int], now: datetime) -> None:
    """Delete the rows no estimate reads any more (older than the previous minute)."""
    if company_ids:
        session.execute(
            delete(ApiRateWindow).where(
                ApiRateWindow.company_id.in_(company_ids),
                ApiRateWindow.window_start < int(now.timestamp() // 60) - 1,
            )
        )


@cache
def _sign_in_and_count() -> Any:
    """The statement of :func:`authenticate_and_count`, built once (building it is a good part
    of what it costs in Python; its parameters are bound at each execution)."""
    key = bindparam("key", type_=String)
    minute = bindparam("minute", type_=Integer)
    token = select(ApiToken.company_id).where(ApiToken.token_hash == key).cte("token")
    hit = (
        insert(ApiRateWindow)
        .from_select(
            ["company_id", "token_hash", "window_start", "hits"],
            select(token.c.company_id, key, minute, literal(1)),
        )
        .on_conflict_do_update(
            index_elements=["company_id", "token_hash", "window_start"],
            set_={"hits": ApiRateWindow.hits + 1},
        )
        .returning(ApiRateWindow.hits)
        .cte("hit")
    )
    previous = (
        select(ApiRateWindow.hits)
        .where(
            ApiRateWindow.company_id == token.c.company_id,
            ApiRateWindow.token_hash == key,
            ApiRateWindow.window_start == minute - 1,
        )
        .scalar_subquery()
    )
    return select(
        token.c.company_id,
        hit.c.hits,
        previous,
        func.set_config("synchronous_commit", "off", True),
    ).select_from(token.outerjoin(hit, true()))


def authenticate_and_count(
    session: Session, *, token: str, limit: int, now: datetime
) -> tuple[int, bool] | None:
    """Sign-in by API token and :func:`within_limit` in one statement (one round trip): the
    token's company and whether this request is within ``limit``/minute; None for an unknown
    token (not counted)."""
    seconds = now.timestamp()
    minute = int(seconds // 60)
    row = session.execute(
        _sign_in_and_count(), {"key": hash_token(token), "minute": minute}
    ).first()
    if row is None:
        return None
    company_id, hits, previous, _async = row
    carried = min(previous or 0, limit) * (1.0 - (seconds % 60) / 60)
    return company_id, bool(hits + carried <= limit)
