"""REST API benchmark: 100,000 messages in 10,000 dialogs in SQLite, served by a real
``atendo serve --no-workers`` (uvicorn subprocess), loaded by httpx async clients.

Prints requests/s and p50/p99 latency of GET /v1/dialogs?limit=20, GET /v1/messages?dialog_id=…,
POST /v1/messages (an operator's message to a client of the external channel, queued in the
outbox; the server runs without workers, so nothing leaves) and POST /v1/messages/inbox (a client
message into the external channel), beside /healthz — a bare constant endpoint on the same
server, measured in the same run. The issue's goal: p99 under 50 ms for the two reads.

    .venv/bin/python bench/api.py [--seconds-per-endpoint 30] [--concurrency 4]

``--postgres``: the same at size on PostgreSQL (100,000 dialogs, 1,000,000 messages made by the
product's own services and then copied), two ``atendo serve --no-workers`` processes, 8
concurrent clients, with the EXPLAIN of every read (see ``bench/api_postgres.py``).

    .venv/bin/python bench/api.py --postgres [--dialogs 100000] [--seconds-per-endpoint 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from atendo.core.clients.models import Client
from atendo.core.companies.service import create_company
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.messages.models import Message
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.external import create_external_channel

DIALOGS = 10_000
PER_DIALOG = 10


def fill(runtime: Runtime) -> tuple[str, int]:
    """The company, its external channel, and the bulk-inserted data; returns (token, channel)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with runtime.db.transaction() as session:
        new = create_company(
            session, name="Bench", admin_email="bench@bench.example", admin_password="x" * 12
        )
        company_id = new.company.id
        channel = create_external_channel(
            session, company_id=company_id, name="Bench", box=runtime.box
        )
        session.execute(
            insert(Client),
            [
                {"id": i, "company_id": company_id, "name": f"Client {i}", "phone": f"+55{i:08d}"}
                for i in range(1, DIALOGS + 1)
            ],
        )
        session.execute(
            insert(Dialog),
            [
                {
                    "id": i,
                    "company_id": company_id,
                    "channel_id": channel.id,
                    "client_id": i,
                    "state": "open",
                    "begin": base,
                    "last_message_id": i * PER_DIALOG,
                    "last_message_at": base + timedelta(seconds=i * PER_DIALOG),
                }
                for i in range(1, DIALOGS + 1)
            ],
        )
        session.execute(
            insert(Request),
            [
                {"id": i, "company_id": company_id, "dialog_id": i, "client_id": i, "state": "open"}
                for i in range(1, DIALOGS + 1)
            ],
        )
        rows: list[dict[str, Any]] = []
        for d in range(1, DIALOGS + 1):
            for k in range(PER_DIALOG):
                mid = (d - 1) * PER_DIALOG + k + 1
                rows.append(
                    {
                        "id": mid,
                        "company_id": company_id,
                        "channel_id": channel.id,
                        "dialog_id": d,
                        "client_id": d,
                        "request_id": d,
                        "type": "from_client" if k % 2 == 0 else "to_client",
                        "transport": "external",
                        "text": f"message {mid} " + "lorem ipsum " * 8,
                        "created": base + timedelta(seconds=mid),
                    }
                )
            if len(rows) >= 20_000:
                session.execute(insert(Message), rows)
                rows = []
        if rows:
            session.execute(insert(Message), rows)
        return new.api_token, channel.id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def load(
    name: str,
    call: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    client: httpx.AsyncClient,
    seconds: float,
    concurrency: int,
) -> None:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            r = await call(client)
            latencies.append(time.perf_counter() - t0)
            if r.status_code >= 400:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print(
        f"{name:<34} {len(lat) / elapsed:8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
        f"   ({len(lat)} requests, {errors} errors)",
        flush=True,
    )


async def run_load(base: str, token: str, channel_id: int, seconds: float, conc: int) -> None:
    headers = {"Authorization": token}
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        rnd = random.Random(5)

        def dialogs(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return c.get("/v1/dialogs", params={"limit": 20})

        def messages(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return c.get("/v1/messages", params={"dialog_id": rnd.randint(1, DIALOGS)})

        def send(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            body = {"client_id": rnd.randint(1, DIALOGS), "text": "benchmark reply"}
            return c.post("/v1/messages", json=body)

        def inbox(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            body = {
                "channel_id": channel_id,
                "body": "benchmark",
                "from_client": {"id": rnd.randint(1, DIALOGS)},
            }
            return c.post("/v1/messages/inbox", json=body)

        def constant(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return c.get("/healthz")

        await load("baseline GET /healthz (constant)", constant, client, seconds, conc)
        await load("GET /v1/dialogs?limit=20", dialogs, client, seconds, conc)
        await load("GET /v1/messages?dialog_id=…", messages, client, seconds, conc)
        await load("POST /v1/messages", send, client, seconds, conc)
        await load("POST /v1/messages/inbox", inbox, client, seconds, conc)


def wait_healthy(base: str, *, tries: int) -> bool:
    """True once ``base``'s /healthz answers 200, polling every 0.1 s ``tries`` times."""
    for _ in range(tries):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds-per-endpoint", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="PostgreSQL, two processes, 8 clients, data made by the services",
    )
    parser.add_argument("--dialogs", type=int, default=100_000, help="--postgres: dialogs in all")
    parser.add_argument(
        "--base-dialogs", type=int, default=1_000, help="--postgres: dialogs made by the services"
    )
    parser.add_argument("--per-dialog", type=int, default=10, help="--postgres: messages each")
    parser.add_argument(
        "--keep-database",
        metavar="NAME",
        default=None,
        help="--postgres: fill database NAME once and keep it; a later run with the same NAME "
        "and sizes measures without filling again",
    )
    args = parser.parse_args()
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from bench import api_postgres

        args.concurrency = args.concurrency or 8
        return api_postgres.main(args, free_port)
    args.concurrency = args.concurrency or 4
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-api-"))
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(data_dir),
        "ATENDO_SECRET_KEY": "bench-secret",
        "ATENDO_API_RATE_LIMIT_PER_MINUTE": "100000000",
    }
    settings = Settings(data_dir=data_dir, secret_key="bench-secret")
    upgrade(settings.resolved_database_url)
    runtime = Runtime.from_settings(settings)
    t0 = time.perf_counter()
    token, channel_id = fill(runtime)
    runtime.close()
    print(
        f"filled {DIALOGS * PER_DIALOG:,} messages in {DIALOGS:,} dialogs (SQLite) "
        f"in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    port = free_port()
    atendo = [sys.executable, "-m", "atendo", "serve", "--no-workers"]
    server = subprocess.Popen(
        [*atendo, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(base, tries=200):
            print("the server did not start", file=sys.stderr)
            return 1
        print(
            f"uvicorn, 1 process; {args.concurrency} concurrent clients, "
            f"{args.seconds_per_endpoint:.0f} s per endpoint",
            flush=True,
        )
        asyncio.run(run_load(base, token, channel_id, args.seconds_per_endpoint, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
