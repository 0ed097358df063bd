"""API usage: per-token rate limit and the monthly request counter.

The rate limit is shared by every process on PostgreSQL (one atomic upsert per request, see
``atendo.core.companies.ratelimit``) and counted in memory on SQLite, which has one process.
The monthly counter is counted in memory and flushed every few seconds, which keeps reads from
taking the database's write lock on every request.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from sqlalchemy.orm import Session

from atendo.core.companies.ratelimit import (
    authenticate_and_count,
    forget_old_windows,
    within_limit,
)
from atendo.core.companies.service import add_api_requests, company_for_token
from atendo.core.errors import DomainError
from atendo.kit.clock import utcnow
from atendo.kit.db import Database


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self) -> None:
        super().__init__("Number of API requests exceeded")


class ApiUsage:
    def __init__(self, per_minute: int, db: Database) -> None:
        self.per_minute = per_minute
        self.db = db
        self.shared = db.is_postgres
        self._lock = threading.Lock()
        self._pending: dict[int, int] = defaultdict(int)
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._seen: set[int] = set()

    def authenticate(self, token: str) -> int | None:
        """The company of ``token`` (None: unknown), counting the request; raises RateLimited
        over the limit. On PostgreSQL the lookup and the count are one statement in autocommit
        (one round trip): the count's upsert commits at the server as it runs, so the shared
        row's lock is never held across a round trip to this process (every request of the
        token waits on it)."""
        if not self.shared:
            with self.db.reading() as session:
                company_id = company_for_token(session, token)
            if company_id is not None:
                self._count_in_memory(company_id, token)
            return company_id
        with self.db.autocommit() as session:
            found = authenticate_and_count(
                session, token=token, limit=self.per_minute, now=utcnow()
            )
        if found is None:
            return None
        company_id, allowed = found
        self._record(company_id, allowed)
        return company_id

    def hit(self, company_id: int, token: str) -> None:
        """Count one request of ``token``; raises RateLimited over the limit."""
        if not self.shared:
            self._count_in_memory(company_id, token)
            return
        with self.db.autocommit() as session:
            allowed = self._count_shared(session, company_id, token)
        self._record(company_id, allowed)

    def _count_shared(self, session: Session, company_id: int, token: str) -> bool:
        return within_limit(
            session, company_id=company_id, token=token, limit=self.per_minute, now=utcnow()
        )

    def _record(self, company_id: int, allowed: bool) -> None:
        with self._lock:
            self._seen.add(company_id)
            if allowed:
                self._pending[company_id] += 1
        if not allowed:
            raise RateLimited()

    def _count_in_memory(self, company_id: int, token: str) -> None:
        now = time.monotonic()
        with self._lock:
            window = self._windows[token]
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.per_minute:
                raise RateLimited()
            window.append(now)
            self._pending[company_id] += 1

    def flush(self, db: Database) -> None:
        with self._lock:
            pending, self._pending = dict(self._pending), defaultdict(int)
            seen, self._seen = sorted(self._seen), set()
        if not pending and not seen:
            return
        with db.transaction() as session:
            for company_id, count in pending.items():
                add_api_requests(session, company_id=company_id, count=count)
            if seen:
                forget_old_windows(session, company_ids=seen, now=utcnow())
