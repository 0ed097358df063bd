"""``bench/api.py --postgres``: the API at size on PostgreSQL, two ``atendo serve --no-workers``
processes, 8 concurrent clients (issue 19 part 3, issue 20 part 5).

The data is made by the product's own services, then copied: a base of ``--base-dialogs``
dialogs (each a new client writing ``--per-dialog`` / 2 messages through
``receive_client_message`` and the operator answering as many through the external
transport's ``queue_reply``), then copied by ``INSERT … SELECT`` (ids, addresses, names and
times shifted per copy) until there are ``--dialogs`` dialogs. Then ``VACUUM ANALYZE``.

Then the search index is brought up to date by its own service (``catch_up``, as the edges do
before a search). ``--dialogs 10000`` is a quick run (a minute or two); the full size takes
several minutes, most of it in ``catch_up`` folding a million messages.

The load is made by wrk (``bench/api_load.lua``): ``--concurrency`` connections, half on each
process, each sending its next request when the last is answered. A load generator in C: the
earlier one (8 httpx tasks in one Python process) spent more CPU per request than a constant
endpoint does, on the same two cores as the servers, and held ``/healthz`` itself at 313 req/s
with a p99 of 53 ms.

Prints, per endpoint, p50/p99/max beside ``/healthz`` (a constant endpoint on the same two
processes, measured in the same run) with the load average at the end of each, the CPU spent
per request by the two web processes, by PostgreSQL and by wrk, and the
``EXPLAIN (ANALYZE, BUFFERS)`` of every statement each read runs (captured from the services
the endpoints call). The machine is shared: the figures are upper bounds under that load.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from atendo.api.serializers import clients_out, dialogs_out, messages_out
from atendo.core.channels.models import Channel
from atendo.core.clients.service import list_client_rows
from atendo.core.companies.service import create_company, regenerate_token
from atendo.core.dialogs.service import list_dialog_rows
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.core.messages.service import list_message_rows
from atendo.core.operators.models import Operator
from atendo.core.operators.sessions import open_session
from atendo.core.search.service import catch_up
from atendo.kit.pagination import Page
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports import registry
from atendo.transports.base import Reply
from atendo.transports.external import create_external_channel
from bench.api import wait_healthy

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Conversations written per transaction (the services run as they do for a request; one
# commit per 50 conversations instead of one each).
PER_TRANSACTION = 50
SERVE = [sys.executable, "-m", "atendo", "serve", "--no-workers"]

# Columns shifted per copy: ids by the table's own span, references by the span of the table
# they point at; text that must stay unique (an address, a dedup key) gets the copy's number.
ID_REFS = {
    "client_id": "clients",
    "dialog_id": "dialogs",
    "request_id": "requests",
    "last_message_id": "messages",
}
UNIQUE_TEXT = {"client_identities": ["address"], "messages": ["dedup_key"], "clients": ["name"]}
TIME_COLUMNS = {"created", "begin", "end", "last_message_at", "send_at", "sent_at"}
COPIED = ["clients", "client_identities", "dialogs", "requests", "messages"]


def base_set(runtime: Runtime, dialogs: int, per_dialog: int) -> tuple[int, int, str]:
    """The company, its external channel and ``dialogs`` conversations, through the services;
    returns (company id, channel id, API token)."""
    with runtime.db.transaction() as session:
        new = create_company(
            session, name="Bench", admin_email="bench@bench.example", admin_password="x" * 12
        )
        company_id, admin_id = new.company.id, new.admin.id
        channel = create_external_channel(
            session, company_id=company_id, name="Bench", box=runtime.box
        )
        channel_id, token = channel.id, new.api_token
    transport = registry.get("external")
    for start in range(0, dialogs, PER_TRANSACTION):
        with runtime.db.transaction() as session:
            ch = session.get(Channel, channel_id)
            assert ch is not None
            _conversations(
                session,
                runtime,
                ch,
                range(start, min(dialogs, start + PER_TRANSACTION)),
                per_dialog=per_dialog,
                company_id=company_id,
                admin_id=admin_id,
                transport=transport,
            )
    return company_id, channel_id, token


def _conversations(
    session: Session,
    runtime: Runtime,
    ch: Channel,
    numbers: range,
    *,
    per_dialog: int,
    company_id: int,
    admin_id: int,
    transport: Any,
) -> None:
    """Conversations ``numbers`` of the base set, through the services, in one transaction."""
    for n in numbers:
        sender = Sender(kind="phone", address=f"+5511{n:09d}", name=f"Client {n:06d}")
        arrival = receive_client_message(session, channel=ch, sender=sender, text="Oi!")
        dialog_id = arrival.message.dialog_id
        client_id = arrival.message.client_id
        assert dialog_id is not None and client_id is not None
        for k in range(1, per_dialog):
            if k % 2:
                transport.queue_reply(
                    session,
                    runtime=runtime,
                    company_id=company_id,
                    dialog_id=dialog_id,
                    reply=Reply(text=f"answer {k}: " + "lorem ipsum " * 6, operator_id=admin_id),
                )
            else:
                receive_client_message(
                    session,
                    channel=ch,
                    sender=Sender(client_id=client_id),
                    text=f"question {k}: " + "dolor sit amet " * 5,
                )


def copy_up(runtime: Runtime, copies: int) -> None:
    """``copies`` more copies of every row of the copied tables (one INSERT … SELECT each)."""
    with runtime.db.engine.begin() as conn:
        spans = {t: conn.scalar(text(f"SELECT coalesce(max(id), 0) FROM {t}")) for t in COPIED}
        seconds = conn.scalar(
            text("SELECT extract(epoch FROM max(created) - min(created)) + 1 FROM messages")
        )
        for table in COPIED:
            columns = [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = :t ORDER BY ordinal_position"
                    ),
                    {"t": table},
                )
            ]
            exprs = []
            for col in columns:
                q = f'src."{col}"'
                if col == "id":
                    exprs.append(f"{q} + k * {spans[table]}")
                elif col in ID_REFS:
                    exprs.append(f"{q} + k * {spans[ID_REFS[col]]}")
                elif col in UNIQUE_TEXT.get(table, []):
                    exprs.append(f"{q} || '.' || k")
                elif col in TIME_COLUMNS:
                    exprs.append(f"{q} + make_interval(secs => k * {seconds})")
                else:
                    exprs.append(q)
            names = ", ".join(f'"{c}"' for c in columns)
            conn.execute(
                text(
                    f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} "
                    f"FROM {table} src CROSS JOIN generate_series(1, :copies) AS k"
                ),
                {"copies": copies},
            )
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
                )
            )


def vacuum(url: str) -> None:
    from atendo.kit.db import make_engine

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


@contextmanager
def captured(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        yield statements
    finally:
        event.remove(conn, "before_cursor_execute", grab)


def explain_reads(
    runtime: Runtime, company_id: int, dialog_id: int, operator_id: int, base: int
) -> None:
    """The EXPLAIN ANALYZE of each statement the benchmarked reads run (the API's own list
    functions: ``list_*_rows``)."""
    from atendo.panel.auth import PanelUser
    from atendo.panel.views import ListFilters, dialog_rows, list_page

    page = Page(20, 0)
    with runtime.db.reading() as session:
        op = session.get(Operator, operator_id)
        assert op is not None
        user = PanelUser(
            id=op.id,
            company_id=company_id,
            role=op.role,
            email=op.email,
            name=op.full_name,
            language="en",
            timezone="UTC",
            csrf="",
            session_id=0,
        )

    reads: list[tuple[str, Callable[[Any], object]]] = [
        (
            "GET /v1/dialogs?limit=20",
            lambda s: dialogs_out(
                s, list_dialog_rows(s, company_id=company_id, page=page, capped=True)[0]
            ),
        ),
        (
            "GET /v1/messages?dialog_id=…",
            lambda s: messages_out(
                s,
                list_message_rows(
                    s, company_id=company_id, page=page, dialog_id=dialog_id, capped=True
                )[0],
            ),
        ),
        (
            "GET /v1/clients?limit=20",
            lambda s: clients_out(
                s, list_client_rows(s, company_id=company_id, page=page, capped=True)[0]
            ),
        ),
        (
            "GET /v1/clients?search=…",
            lambda s: clients_out(
                s,
                list_client_rows(
                    s,
                    company_id=company_id,
                    page=page,
                    search=f"client {base // 8:06d}",
                    capped=True,
                )[0],
            ),
        ),
        (
            "GET /v1/dialogs?q=… (pg_trgm search)",
            lambda s: dialogs_out(
                s,
                list_dialog_rows(
                    s,
                    company_id=company_id,
                    page=page,
                    search=f"client {base // 8:06d}",
                    capped=True,
                )[0],
            ),
        ),
    ]
    reads.append(
        (
            "panel chat list (GET /chats/list)",
            lambda s: list_page(s, user, ListFilters(), offset=0, limit=25),
        )
    )
    reads.append(
        (
            "panel chat list, htmx (+ tab counts)",
            lambda s: dialog_rows(s, user, ListFilters(), offset=0, limit=25),
        )
    )
    for name, read in reads:
        print(f"\n-- EXPLAIN (ANALYZE, BUFFERS): {name}", flush=True)
        with runtime.db.reading() as session:
            conn = session.connection()
            with captured(conn) as statements:
                read(session)
            for statement, params in statements:
                print("   " + " ".join(statement.split())[:300])
                plan = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params
                )
                for (line,) in plan:
                    print("      " + line)


LOAD_SCRIPT = Path(__file__).with_name("api_load.lua")
# (what the bench prints, the endpoint's name in api_load.lua)
ENDPOINTS = [
    ("baseline GET /healthz (constant)", "healthz"),
    ("GET /v1/dialogs?limit=20", "dialogs"),
    ("GET /v1/messages?dialog_id=…", "messages"),
    ("GET /v1/clients?limit=20", "clients"),
    ("GET /v1/clients?search=… (a search)", "clients_search"),
    ("GET /v1/dialogs?q=… (pg_trgm search)", "dialogs_q"),
    ("panel chat list GET /chats/list", "chats"),
    ("panel chat list, htmx (+ tab counts)", "chats_htmx"),
]


def _run_load(
    servers: list[subprocess.Popen[bytes]],
    ports: list[int],
    token: str,
    cookie: str,
    dialogs: int,
    seconds: float,
    concurrency: int,
    base: int,
    database: str,
) -> int:
    """Each endpoint for ``seconds`` under ``concurrency`` connections of wrk, half on each
    process. ``base``: the conversations made by the services (the searches look for their
    clients' names: each found once per copy). Returns 1 when a request failed."""
    from bench.api_cpu import postgres_cpu
    from bench.widget import cpu_seconds

    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (scripts/install-system-deps.sh installs it)", file=sys.stderr)
        return 1
    status = 0
    pids = [s.pid for s in servers]
    for name, kind in ENDPOINTS:
        web0, pg0 = sum(cpu_seconds(p) for p in pids), postgres_cpu(database)
        load0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [
                wrk,
                f"-t{len(ports)}",
                f"-c{concurrency}",
                f"-d{seconds:g}s",
                "--timeout",
                "60s",
                "-s",
                str(LOAD_SCRIPT),
                f"http://127.0.0.1:{ports[0]}",
                "--",
                token,
                cookie,
                kind,
                str(dialogs),
                str(base),
            ],
            env={**os.environ, "ATENDO_BENCH_SECOND_PORT": str(ports[-1])},
            capture_output=True,
            text=True,
            check=False,
        )
        load1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        web = sum(cpu_seconds(p) for p in pids) - web0
        pg = postgres_cpu(database) - pg0
        gen = (load1.ru_utime + load1.ru_stime) - (load0.ru_utime + load0.ru_stime)
        found = re.search(
            r"RESULT requests=(\d+) seconds=([\d.]+) p50=(\d+) p99=(\d+) max=(\d+) "
            r"status_errors=(\d+) socket_errors=(\d+)",
            out.stdout,
        )
        if out.returncode != 0 or found is None:
            print(f"{name}: wrk failed\n{out.stdout}{out.stderr}", file=sys.stderr)
            status = 1
            continue
        requests, elapsed, p50, p99, most, bad, broken = (float(x) for x in found.groups())
        if bad or broken:
            status = 1
        per = 1000 / max(requests, 1)
        print(
            f"{name:<40} {requests / elapsed:7.0f} req/s   p50 {p50 / 1000:6.1f} ms   "
            f"p99 {p99 / 1000:6.1f} ms   max {most / 1000:6.1f} ms   ({requests:.0f} requests, "
            f"{bad + broken:.0f} errors; load average {os.getloadavg()[0]:.1f})\n"
            f"{'':<40} CPU per request: web {web * per:5.2f} ms, PostgreSQL {pg * per:5.2f} ms, "
            f"wrk {gen * per:5.2f} ms",
            flush=True,
        )
    return status


def main(args: Any, free_port: Callable[[], int]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.servers.postgres import TemporaryDatabase, postgres_available

    if not postgres_available():
        print("PostgreSQL is not reachable on 127.0.0.1:5432", file=sys.stderr)
        return 1
    base_dialogs = min(args.base_dialogs, args.dialogs)
    copies = max(0, args.dialogs // base_dialogs - 1)
    database: AbstractContextManager[str] = TemporaryDatabase(PG_BASE, prefix="atendo_bench_api")
    if args.keep_database:
        database = kept_database(args.keep_database)
    with database as url:
        data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"atendo-bench-api-pg-{os.getpid()}"
        settings = Settings(data_dir=data_dir, secret_key="bench-secret", database_url=url)
        upgrade(url)
        runtime = Runtime.from_settings(settings)
        filled = already_filled(runtime, args.dialogs * args.per_dialog)
        if filled is not None:
            company_id, token = filled
            print(f"database {args.keep_database} kept from an earlier run: not filled again")
        else:
            company_id, token = fill(runtime, base_dialogs, copies, args.per_dialog)
        with runtime.db.reading() as session:
            counts = {
                t: session.scalar(text(f"SELECT count(*) FROM {t}"))
                for t in ("dialogs", "messages", "clients")
            }
            admin = session.scalar(
                text("SELECT id FROM operators WHERE company_id = :c"), {"c": company_id}
            )
        print(
            f"{counts['dialogs']:,} dialogs, {counts['messages']:,} messages, "
            f"{counts['clients']:,} clients",
            flush=True,
        )
        with runtime.db.transaction() as session:
            op = session.get(Operator, admin)
            assert op is not None
            cookie = open_session(session, operator=op, user_agent="bench").token
        explain_reads(runtime, company_id, rnd_dialog(counts["dialogs"]), admin, base_dialogs)
        runtime.close()
        env = {
            **os.environ,
            "ATENDO_DATA_DIR": str(data_dir),
            "ATENDO_SECRET_KEY": "bench-secret",
            "ATENDO_DATABASE_URL": url,
            "ATENDO_API_RATE_LIMIT_PER_MINUTE": "100000000",
            "ATENDO_LOG_LEVEL": "WARNING",
        }
        ports = [free_port(), free_port()]
        servers = [
            subprocess.Popen(
                [*SERVE, "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        try:
            for base in bases:
                if not wait_healthy(base, tries=300):
                    print("a server did not start", file=sys.stderr)
                    return 1
            print(
                f"\nuvicorn, 2 processes (atendo serve --no-workers) on one PostgreSQL; "
                f"{args.concurrency} concurrent clients (wrk's connections, half on each "
                f"process), {args.seconds_per_endpoint:.0f} s per endpoint",
                flush=True,
            )
            return _run_load(
                servers,
                ports,
                token,
                cookie,
                counts["dialogs"],
                args.seconds_per_endpoint,
                args.concurrency,
                base_dialogs,
                make_url(url).database or "",
            )
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
    return 0


def fill(runtime: Runtime, base_dialogs: int, copies: int, per_dialog: int) -> tuple[int, str]:
    """The base set through the services, its copies, the search index, VACUUM ANALYZE;
    returns (company id, API token)."""
    t0 = time.perf_counter()
    company_id, _channel_id, token = base_set(runtime, base_dialogs, per_dialog)
    t1 = time.perf_counter()
    print(
        f"base set through the services: {base_dialogs:,} dialogs, "
        f"{base_dialogs * per_dialog:,} messages in {t1 - t0:.1f} s",
        flush=True,
    )
    copy_up(runtime, copies)
    t2 = time.perf_counter()
    with runtime.db.transaction() as session:
        indexed = catch_up(session, company_id=company_id)
    t3 = time.perf_counter()
    print(
        f"copied {copies} times by INSERT … SELECT in {t2 - t1:.1f} s; search index "
        f"(catch_up) {indexed:,} messages in {t3 - t2:.1f} s",
        flush=True,
    )
    t2 = t3
    vacuum(str(runtime.settings.database_url))
    vacuum_done = time.perf_counter()
    print(f"VACUUM ANALYZE in {vacuum_done - t2:.1f} s", flush=True)
    return company_id, token


def already_filled(runtime: Runtime, messages: int) -> tuple[int, str] | None:
    """(company id, a fresh API token) when the database holds the bench's company with
    ``messages`` messages already (a kept database); None when it must be filled."""
    with runtime.db.transaction() as session:
        company_id = session.scalar(text("SELECT id FROM companies WHERE name = 'Bench'"))
        if company_id is None:
            return None
        if session.scalar(text("SELECT count(*) FROM messages")) != messages:
            raise SystemExit("the kept database holds another size: drop it or pick another name")
        return company_id, regenerate_token(session, company_id=company_id)


@contextmanager
def kept_database(name: str) -> Iterator[str]:
    """Database ``name`` on the local server, created when missing and never dropped."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", name):
        raise SystemExit(f"bad database name: {name!r}")
    url = make_url(PG_BASE)
    with psycopg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield url.set(database=name).render_as_string(hide_password=False)


def rnd_dialog(dialogs: int) -> int:
    return random.Random(7).randint(1, dialogs)
