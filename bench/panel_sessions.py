"""What a server-side panel session costs per request, beside the stateless cookie it replaced,
measured in the same run on the same SQLite database:

- baseline: the former check (the operator by primary key, then an HMAC over the cookie);
- the session lookup every panel request now makes (``find_session``: the row by the token's
  SHA-256, joined to its operator);
- the once-a-minute ``last_seen`` write (``touch_session`` in its own unit of work), which a
  session pays at most once per minute, not per request.

    .venv/bin/python bench/panel_sessions.py [--checks 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

from atendo.core.companies.service import create_company
from atendo.core.operators.models import Operator
from atendo.core.operators.sessions import (
    TOUCH_EVERY,
    find_session,
    open_session,
    touch_session,
)
from atendo.kit.clock import set_clock
from atendo.kit.crypto import SecretBox
from atendo.kit.db import Database
from atendo.migrations import upgrade


def timed(name: str, checks: int, fn: Callable[[], None]) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(checks):
        fn()
    seconds = time.perf_counter() - start
    print(f"{name:48s} {checks:6d} {seconds:7.2f} s {seconds / checks * 1e6:8.1f} us each")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=5000)
    checks = parser.parse_args().checks
    url = f"sqlite:///{tempfile.mkdtemp(prefix='atendo-bench-')}/bench.db"
    upgrade(url)
    db = Database(url)
    box = SecretBox("bench")
    with db.transaction() as session:
        new = create_company(
            session, name="Bench", admin_email="a@bench.example", admin_password="bench pass 1"
        )
        operator_id, company_id = new.admin.id, new.company.id
        opened = open_session(session, operator=new.admin, user_agent="bench")

    def stateless() -> None:
        with db.reading() as session:
            op = session.get(Operator, operator_id)
            assert op is not None
            box.mac(f"panel-session:{op.id}.0.nonce.{op.password_hash[-16:]}", 32)

    def lookup() -> None:
        with db.reading() as session:
            assert find_session(session, token=opened.token) is not None

    moments = iter(datetime.now(UTC) + TOUCH_EVERY * i for i in range(1, checks + 2))

    def touch() -> None:
        # A minute later each time, so that every call really writes the row.
        set_clock(lambda now=next(moments): now)
        with db.transaction() as session:
            touch_session(session, company_id=company_id, session_id=opened.id)

    base = timed("baseline: stateless cookie (operator + HMAC)", checks, stateless)
    found = timed("session lookup (every request)", checks, lookup)
    timed("last_seen write (at most once a minute)", checks, touch)
    set_clock(None)
    print(f"lookup / baseline: {found / base:.2f}")
    db.dispose()


if __name__ == "__main__":
    main()
