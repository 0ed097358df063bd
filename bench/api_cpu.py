"""CPU per request of the API's list reads, in process, one request at a time (issue 20 part 5).

``bench/api.py --postgres`` measures latency under 8 clients on two processes; on a shared
2-core machine its figures move with everything else running. What decides them is the CPU a
web process spends per request, which this measures with the process's CPU clock
(``time.process_time``, every thread of the process: the handler's worker thread, the event
loop, the test client), robust to the machine's load, unlike the wall clock.

The app is the one ``atendo serve --no-workers`` builds (``create_app``), driven by
Starlette's ``TestClient``; each endpoint is requested ``--requests`` times after a warm-up.
Printed beside it, measured in the same run:

* ``GET /healthz`` through the same client: the cost of the HTTP stack alone;
* ``raw psycopg``: the rows a page of dialogs shows, read by one ``SELECT`` with psycopg on a
  connection of its own (no ORM, no HTTP): what the database and the driver cost.

Usage::

    .venv/bin/python bench/api_cpu.py --database atendo_bench_api_kept   # a filled database
    .venv/bin/python bench/api_cpu.py --database NAME --profile "GET /v1/messages"  # cProfile

The database is one ``bench/api.py --postgres --keep-database NAME`` filled (a quick one:
``--dialogs 10000``). A token of its own is issued (the company's others keep working), and a
panel session is opened for the company's administrator.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy import make_url, text
from starlette.testclient import TestClient

from atendo.core.companies.service import issue_token
from atendo.core.operators.models import Operator
from atendo.core.operators.sessions import open_session
from atendo.runtime import Runtime
from atendo.server import create_app
from atendo.settings import Settings

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def endpoints(dialogs: int, base: int) -> list[tuple[str, Callable[[random.Random], str]]]:
    """(name, the URL of one request) of each read the bench measures."""
    return [
        ("GET /healthz (baseline)", lambda r: "/healthz"),
        ("GET /v1/dialogs?limit=20", lambda r: "/v1/dialogs?limit=20"),
        (
            "GET /v1/messages?dialog_id=…",
            lambda r: f"/v1/messages?dialog_id={r.randint(1, dialogs)}",
        ),
        ("GET /v1/clients?limit=20", lambda r: "/v1/clients?limit=20"),
        (
            "GET /v1/clients?search=…",
            lambda r: f"/v1/clients?search=client%20{r.randint(0, base - 1):06d}",
        ),
        (
            "GET /v1/dialogs?q=…",
            lambda r: f"/v1/dialogs?q=client%20{r.randint(0, base - 1):06d}",
        ),
        ("GET /chats/list (panel)", lambda r: "/chats/list"),
        ("GET /chats/list (panel, htmx)", lambda r: "/chats/list#htmx"),
    ]


def postgres_cpu(database: str) -> float:
    """Seconds of CPU the local PostgreSQL spent for ``database`` so far: its backends' own
    (from ``/proc``; the server runs on this machine), plus what the postmaster collected from
    children that ended (parallel workers; other databases' too, so an upper bound)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if not cmd.startswith("postgres"):
            continue
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        if f" {database} " in cmd or "parallel worker" in cmd:
            total += utime + stime
        elif "-D" in cmd or "config_file" in cmd or cmd.startswith("/usr/lib/postgresql"):
            total += cutime + cstime  # the postmaster: children that ended
    return total / tick


def raw_baseline(url: str, company_id: int, n: int) -> float:
    """CPU ms per read of a page of 20 dialogs and their last messages, by plain psycopg."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:

        def once() -> None:
            rows = conn.execute(
                "SELECT * FROM dialogs WHERE company_id = %s "
                "ORDER BY last_message_at DESC, id DESC LIMIT 20",
                (company_id,),
            ).fetchall()
            ids = [r[0] for r in rows]
            conn.execute(
                "SELECT * FROM messages WHERE company_id = %s AND id = ANY(%s)",
                (company_id, ids),
            ).fetchall()

        for _ in range(20):
            once()
        t0 = time.process_time()
        for _ in range(n):
            once()
        return (time.process_time() - t0) / n * 1000


def _get(client: TestClient, url: str) -> Any:
    """GET ``url``; one ending in ``#htmx`` as the panel's own (htmx) request."""
    if url.endswith("#htmx"):
        return client.get(url.removesuffix("#htmx"), headers={"HX-Request": "true"})
    return client.get(url)


PROFILING = {"on": False}


def profile_threads(profiler: cProfile.Profile) -> None:
    """Profile what FastAPI runs in its thread pool (the dependencies and the handlers, where
    the work is): each call enables ``profiler`` in its worker thread for its duration (one
    request at a time, so never in two threads at once)."""
    import fastapi.dependencies.utils
    import fastapi.routing
    from starlette.concurrency import run_in_threadpool

    async def profiled(func: Any, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            if not PROFILING["on"]:
                return func(*args, **kwargs)
            profiler.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profiler.disable()

        return await run_in_threadpool(call)

    fastapi.routing.run_in_threadpool = profiled  # type: ignore[assignment]
    fastapi.dependencies.utils.run_in_threadpool = profiled  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="a database bench/api.py filled")
    parser.add_argument("--requests", type=int, default=200, help="per endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="the requests of an endpoint in this many chunks, each followed by as many "
        "/healthz (the machine's load moves CPU time too: compare within a round)",
    )
    parser.add_argument("--base-dialogs", type=int, default=1_000)
    parser.add_argument("--only", default=None, help="only endpoints whose name contains this")
    parser.add_argument("--profile", default=None, help="cProfile the endpoint named so")
    args = parser.parse_args()

    url = PG + args.database
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-cpu-"))
    settings = Settings(
        data_dir=data_dir,
        secret_key="bench-secret",
        database_url=url,
        api_rate_limit_per_minute=100_000_000,
        workers_enabled=False,
    )
    runtime = Runtime.from_settings(settings)
    with runtime.db.transaction() as session:
        company_id = session.scalar(text("SELECT id FROM companies WHERE name = 'Bench'"))
        if company_id is None:
            raise SystemExit(f"{args.database} is not a database bench/api.py filled")
        token = issue_token(session, company_id=company_id)
        op = session.scalars(
            text("SELECT id FROM operators WHERE company_id = :c ORDER BY id"), {"c": company_id}
        ).first()
        operator = session.get(Operator, op)
        assert operator is not None
        cookie = open_session(session, operator=operator, user_agent="bench-cpu").token
        dialogs = session.scalar(text("SELECT max(id) FROM dialogs")) or 1
    profiler = cProfile.Profile(time.thread_time)
    profile_threads(profiler)
    app = create_app(runtime, workers=False)
    baseline = raw_baseline(url, company_id, args.requests)
    print(
        f"{args.database}: {dialogs:,} dialogs; {args.requests} requests per endpoint, "
        f"one at a time, after {args.warmup} of warm-up; CPU = time.process_time()",
        flush=True,
    )
    print(f"{'raw psycopg: 20 dialogs + last messages':<34} {baseline:7.2f} (no HTTP, no ORM)")
    with TestClient(app) as client:
        client.headers["Authorization"] = token
        client.cookies.set("atendo_session", cookie)
        print(
            f"{'':<34} {'CPU ms/request (process)':>26}   {'PostgreSQL':>10}   {'wall':>6}"
            f"   {'Python':>8}\n"
            f"{'endpoint':<34} {'median':>7} {'min':>6} {'−healthz':>9}   {'ms CPU':>10}   "
            f"{'ms':>6}   {'calls':>8}"
        )

        def measure(urls: list[str]) -> tuple[float, float, float]:
            c0, w0, p0 = time.process_time(), time.perf_counter(), postgres_cpu(args.database)
            for u in urls:
                _get(client, u)
            n = len(urls)
            return (
                (time.process_time() - c0) / n * 1000,
                (postgres_cpu(args.database) - p0) / n * 1000,
                (time.perf_counter() - w0) / n * 1000,
            )

        chunk = max(1, args.requests // args.rounds)
        for name, make in endpoints(dialogs, args.base_dialogs):
            if args.only and args.only not in name and "healthz" not in name:
                continue
            rnd = random.Random(11)
            for _ in range(args.warmup):
                r = _get(client, make(rnd))
                assert r.status_code == 200, (name, r.status_code, r.text[:300])
            # Python function calls per request in the handler's thread (deterministic, unlike
            # time on a shared machine): a second measure of the work done.
            profiler.clear()
            PROFILING["on"] = True
            for _ in range(10):
                _get(client, make(rnd))
            PROFILING["on"] = False
            calls = pstats.Stats(profiler).total_calls / 10  # type: ignore[attr-defined]
            profiler.clear()
            PROFILING["on"] = bool(args.profile and args.profile in name)
            cpus, pgs, walls, above = [], [], [], []
            for _round in range(args.rounds):
                on = PROFILING["on"]
                cpu, pg, wall = measure([make(rnd) for _ in range(chunk)])
                PROFILING["on"] = False
                base_cpu, _pg, _wall = measure(["/healthz"] * chunk)
                PROFILING["on"] = on
                cpus.append(cpu)
                pgs.append(pg)
                walls.append(wall)
                above.append(cpu - base_cpu)
            print(
                f"{name:<34} {statistics.median(cpus):7.2f} {min(cpus):6.2f} "
                f"{statistics.median(above):9.2f}   {statistics.mean(pgs):10.2f}   "
                f"{statistics.median(walls):6.1f}   {calls:8,.0f}",
                flush=True,
            )
            if args.profile and args.profile in name:
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(45)
                stats.sort_stats("tottime").print_stats(30)
                print(out.getvalue())
            PROFILING["on"] = False
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
