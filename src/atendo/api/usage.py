"""API usage: per-token rate limit and the monthly request counter.

Counting in memory and flushing every few seconds keeps reads from taking the database's write
lock on every request.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from atendo.core.companies.service import add_api_requests
from atendo.core.errors import DomainError
from atendo.kit.db import Database


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self) -> None:
        super().__init__("Number of API requests exceeded")


class ApiUsage:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._pending: dict[int, int] = defaultdict(int)
        self._windows: dict[str, deque[float]] = defaultdict(deque)

    def hit(self, company_id: int, token: str) -> None:
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
        if not pending:
            return
        with db.transaction() as session:
            for company_id, count in pending.items():
                add_api_requests(session, company_id=company_id, count=count)
