"""Routing benchmark: 1,000 new requests arriving over 10 seconds to a group of 50 online
operators with limits, handed out by the router's own loop (``atendo.workers.routing``)
running in this process, on SQLite (or PostgreSQL with ``ATENDO_BENCH_DATABASE_URL``: a
database of its own is created on that server and dropped at the end).

Checks that every request was assigned exactly once and no operator went over their limit,
and prints the time from a request's arrival (its message stored and committed) to its
assignment (the router's commit), p50/p99/max, beside the event-loop latency of the same
process measured in the same run (how late a 10 ms sleep wakes up: what any asyncio work
here waits at least).

    .venv/bin/python bench/routing.py [--requests 1000] [--seconds 10] [--operators 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from atendo.core.channels.models import Channel
from atendo.core.channels.service import set_channel_group
from atendo.core.companies.models import AuditEntry
from atendo.core.companies.service import create_company
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import OperatorStatus
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.core.operators.service import create_group, create_operator, update_operator
from atendo.core.team.statuses import set_operator_status
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.external import create_external_channel
from atendo.workers.routing import routing_loop

TICK = 0.1  # the requests due in each 100 ms arrive together


def setup(runtime: Runtime, operators: int, limit: int) -> tuple[int, int, list[int]]:
    with runtime.db.transaction() as session:
        company = create_company(
            session, name="Bench", admin_email="admin@bench.example", admin_password="x" * 12
        ).company
        ops = []
        for i in range(operators):
            op = create_operator(
                session,
                company_id=company.id,
                email=f"op{i}@bench.example",
                password="x" * 12,
                first_name=f"Op{i}",
            )
            update_operator(
                session, company_id=company.id, operator_id=op.id, max_open_dialogs=limit
            )
            set_operator_status(
                session, company_id=company.id, operator_id=op.id, status=OperatorStatus.WORKING
            )
            ops.append(op.id)
        group = create_group(
            session,
            company_id=company.id,
            name="Todos",
            members={op: 10 + (i % 90) for i, op in enumerate(ops)},
        )
        channel = create_external_channel(
            session, company_id=company.id, name="Bot", box=runtime.box
        )
        set_channel_group(session, company_id=company.id, channel_id=channel.id, group_id=group.id)
        return company.id, channel.id, ops


def arrive(runtime: Runtime, channel_id: int, numbers: list[int]) -> tuple[list[int], float]:
    """The requests due in one tick, stored in one transaction (as a channel's fetched batch
    is); returns their dialogs and the commit time."""
    dialogs = []
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        for n in numbers:
            arrival = receive_client_message(
                session,
                channel=channel,
                sender=Sender(kind="phone", address=f"+55119{n:08d}"),
                text=f"pedido {n}",
            )
            assert arrival.message.dialog_id is not None
            dialogs.append(arrival.message.dialog_id)
    return dialogs, time.time()  # committed: from here the router may see them


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="atendo-bench-routing-"))
    server = os.environ.get("ATENDO_BENCH_DATABASE_URL")
    if server:  # a database of its own on that server, dropped at the end
        with scratch_database(server) as url:
            await run(url, folder, args)
    else:
        await run(f"sqlite:///{folder / 'bench.db'}", folder, args)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the server of ``server_url`` (left as it was: the benchmark's tables
    never land in the database it names), dropped afterwards."""
    name = f"atendo_bench_routing_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def run(url: str, folder: Path, args: argparse.Namespace) -> None:
    upgrade(url)
    runtime = Runtime.from_settings(
        Settings(data_dir=folder, database_url=url, secret_key="bench-secret")
    )
    company_id, channel_id, ops = setup(runtime, args.operators, args.limit)

    stop = asyncio.Event()
    lags: list[float] = []

    async def probe() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    router = asyncio.create_task(routing_loop(runtime, stop))
    prober = asyncio.create_task(probe())
    arrived: dict[int, float] = {}
    ticks = max(1, int(args.seconds / TICK))
    per_tick = [list(range(args.requests))[i::ticks] for i in range(ticks)]
    began = time.perf_counter()
    for i, numbers in enumerate(per_tick):
        await asyncio.sleep(max(0.0, began + i * TICK - time.perf_counter()))
        dialogs, at = await asyncio.to_thread(arrive, runtime, channel_id, numbers)
        arrived.update((d, at) for d in dialogs)
    span = time.perf_counter() - began
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        with runtime.db.reading() as session:
            left = session.scalar(
                select(Dialog.id)
                .where(Dialog.company_id == company_id, Dialog.operator_id.is_(None))
                .limit(1)
            )
        if left is None:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await router
    await prober

    with runtime.db.reading() as session:
        owners = dict(
            session.execute(
                select(Dialog.id, Dialog.operator_id).where(Dialog.company_id == company_id)
            ).all()
        )
        assigned = session.execute(
            select(AuditEntry.dialog_id, AuditEntry.created).where(
                AuditEntry.company_id == company_id, AuditEntry.kind == "assigned"
            )
        ).all()
    per_dialog = Counter(d for d, _at in assigned)
    loads = Counter(op for op in owners.values() if op is not None)
    waits = sorted(at.timestamp() - arrived[d] for d, at in assigned if d in arrived)
    ok_once = len(arrived) == args.requests and all(per_dialog[d] == 1 for d in arrived)
    ok_limit = max(loads.values(), default=0) <= args.limit
    unassigned = sum(1 for d in arrived if owners.get(d) is None)

    def ms(values: list[float], q: float) -> float:
        return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    lags.sort()
    db = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"routing: {args.requests} requests over {args.seconds:.0f} s (stored in {span:.1f} s, "
        f"{len(per_tick)} batches) to {len(ops)} online operators (limit {args.limit} each), "
        f"{db}, router loop in this process"
    )
    top = max(loads.values(), default=0)
    print(
        f"  assigned exactly once: {ok_once} ({len(per_dialog)} assigned, {unassigned} left); "
        f"no operator over the limit: {ok_limit} (max load {top})"
    )
    print(
        f"  arrival → assignment: p50 {ms(waits, 0.5):.1f} ms, p99 {ms(waits, 0.99):.1f} ms, "
        f"max {1000 * max(waits, default=0):.1f} ms"
    )
    print(
        "  baseline, event-loop latency (10 ms sleep, same process): "
        f"p50 {ms(lags, 0.5):.2f} ms, "
        f"p99 {ms(lags, 0.99):.2f} ms, max {1000 * max(lags, default=0):.2f} ms "
        f"({len(lags)} samples)"
    )
    print(f"  mean {statistics.mean(waits) * 1000:.1f} ms" if waits else "  no assignments")
    runtime.close()
    shutil.rmtree(folder, ignore_errors=True)
    if not (ok_once and ok_limit and unassigned == 0):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
