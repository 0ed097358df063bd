"""Rate limits for anonymous visitors (per process, in memory): sliding windows of counts."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Window:
    """At most ``limit`` hits per ``seconds`` for each key."""

    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self.hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        q = self.hits.setdefault(key, deque())
        while q and q[0] <= now - self.seconds:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        if len(self.hits) > 50_000:  # forget idle keys
            for k in [k for k, v in self.hits.items() if not v][:10_000]:
                del self.hits[k]
        return True


class Limits:
    """Messages per minute per visitor and per IP; new conversations per hour per IP."""

    def __init__(
        self,
        *,
        visitor_per_minute: int = 20,
        ip_per_minute: int = 60,
        chats_per_hour: int = 10,
    ) -> None:
        self.visitor = Window(visitor_per_minute, 60)
        self.ip = Window(ip_per_minute, 60)
        self.chats = Window(chats_per_hour, 3600)

    def message(self, *, visitor: str, ip: str) -> bool:
        return self.visitor.allow(visitor) and self.ip.allow(ip)

    def new_chat(self, *, ip: str) -> bool:
        return self.chats.allow(ip)
