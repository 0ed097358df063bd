"""Idle mailboxes: what each costs a worker, and how fast new mail reaches the API.

One run, one private Dovecot (tests.servers.dovecot.ManySessionsDovecot: its process limits
raised, an idle mailbox checked every second past the 128 inotify instances Linux gives one
user, mail stored as ``nobody``), N mailboxes (100 by default; ``-n 1000``), the open-files
limit raised to the hard limit:

(a) the baseline: a bare aioimaplib client in a process of its own, holding the same N
    mailboxes in IDLE (LOGIN, SELECT, IDLE — nothing else): RSS per connection, idle CPU,
    and latency from an LMTP delivery to the ``EXISTS`` push it receives (p50/p95 of 20);
(b) Atendo: ``atendo worker --processes 1`` syncing the same N mailboxes (PostgreSQL when
    127.0.0.1:5432 answers, else SQLite), beside ``atendo serve --no-workers``: RSS per
    mailbox (what the second half of the mailboxes adds to the worker's RSS, over N/2; and
    from the empty worker, its one-time costs included),
    idle CPU, and latency from an LMTP delivery to the message in ``GET /v1/messages``
    (p50/p95 of 20 deliveries to random mailboxes);
(c) Atendo under a steady load: deliveries at 40 and 100 mails/s for 10 s each to random
    mailboxes, latency from delivery to the row (its ``created`` time, what the API reads);
(d) Dovecot restarted under the N sessions: how long until every mailbox has synced again,
    and the worker's RSS before and after.

The two sides run one after the other (not together), so Dovecot serves N sessions at a time.
Run on a shared machine, the figures carry its load (the load average is printed beside each
side); the ratio to the baseline is the point.

    .venv/bin/python bench/mailboxes.py            # -n 1000 if the machine allows
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # so that ``tests.servers`` imports

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from email.utils import format_datetime  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.servers.dovecot import (  # noqa: E402
    DovecotServer,
    ManySessionsDovecot,
    dovecot_available,
)
from tests.servers.postgres import TemporaryDatabase, postgres_available  # noqa: E402

import atendo.core.models  # noqa: E402 - every mapper
from atendo.core.channels.models import Channel  # noqa: E402
from atendo.core.channels.service import create_channel  # noqa: E402
from atendo.core.companies.service import create_company  # noqa: E402
from atendo.core.messages.models import Message  # noqa: E402
from atendo.migrations import upgrade  # noqa: E402
from atendo.runtime import Runtime  # noqa: E402
from atendo.settings import Settings  # noqa: E402
from atendo.transports.email.settings import parse_settings  # noqa: E402

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-mailboxes-secret"
SAMPLES = 20
SETTLE = 5.0  # seconds after the last mailbox is in IDLE, before memory is read
CPU_WINDOW = 10.0
RATES = (40, 100)
RATE_SECONDS = 10.0
WAIT_LIMIT = 600.0

BARE_CLIENT = r"""
import asyncio, sys, time
import aioimaplib

async def hold(host, port, user, password, ready, gate):
    async with gate:
        client = aioimaplib.IMAP4(host=host, port=port, timeout=60)
        await client.wait_hello_from_server()
        await client.login(user, password)
        await client.select("INBOX")
    while True:
        idle = await client.idle_start(timeout=1500)
        ready.release()
        while True:
            push = await client.wait_server_push()
            text = b" ".join(bytes(x) for x in push) if isinstance(push, list) else b""
            if b"EXISTS" in text:
                print(f"push {user} {time.time():.6f}", flush=True)
            if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                break
        client.idle_done()
        await asyncio.wait_for(idle, 10)

async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    users = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    print(f"started {time.time():.6f}", flush=True)
    await asyncio.sleep(2)
    print("before", flush=True)
    ready = asyncio.Semaphore(0)
    gate = asyncio.Semaphore(16)
    tasks = [asyncio.create_task(hold(host, port, u, p, ready, gate)) for u, p in users]
    for _ in users:
        await ready.acquire()
    print("idle", flush=True)
    await asyncio.gather(*tasks)

asyncio.run(main())
"""


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(pid: int) -> float:
    before = _cpu_seconds(pid)
    time.sleep(CPU_WINDOW)
    return (_cpu_seconds(pid) - before) / CPU_WINDOW * 100


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _raw(tag: str, i: int) -> bytes:
    return (
        f"From: Cliente {i} <cliente{i}@example.org>\r\nTo: atendimento@bench.example\r\n"
        f"Subject: {tag} {i}\r\nDate: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: <{tag}-{i}-{time.time_ns()}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nOlá, preciso de ajuda.\r\n"
    ).encode()


def _wait(what: str, predicate: Callable[[], bool], limit: float = WAIT_LIMIT) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- (a) the bare client -----------------------------------------------------------------------


def bare_client(server: DovecotServer, users: list[tuple[str, str]]) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_CLIENT, server.host, str(server.imap_port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(f"{u} {p}\n" for u, p in users))
    proc.stdin.close()
    pushes: dict[str, float] = {}
    state = {"line": ""}
    cond = threading.Condition()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with cond:
                if line.startswith("push "):
                    _, user, at = line.split()
                    pushes[user] = float(at)
                else:
                    state["line"] = line.strip()
                cond.notify_all()

    threading.Thread(target=read, daemon=True).start()
    try:
        with cond:
            cond.wait_for(lambda: state["line"] == "before", 60)
        rss_before = _rss_kb(proc.pid)
        with cond:
            cond.wait_for(lambda: state["line"] == "idle", WAIT_LIMIT)
        time.sleep(SETTLE)
        rss_after = _rss_kb(proc.pid)
        cpu = _idle_cpu(proc.pid)
        load = os.getloadavg()[0]
        rng = random.Random(1)
        latencies = []
        for i in range(SAMPLES):
            user = rng.choice(users)[0]
            with cond:
                pushes.pop(user, None)
            t0 = time.time()
            server.deliver(user, _raw("bare", i))
            with cond:
                if not cond.wait_for(lambda user=user: user in pushes, 60):
                    raise SystemExit(f"the bare client saw no EXISTS for {user}")
                latencies.append(pushes[user] - t0)
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    return {
        "rss_total_mb": rss_after / 1024,
        "kb_per": (rss_after - rss_before) / len(users),
        "cpu": cpu,
        "load": load,
        "p50": _pct(latencies, 0.5),
        "p95": _pct(latencies, 0.95),
    }


# --- (b) and (c) Atendo ------------------------------------------------------------------------


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def atendo(
    server: DovecotServer, users: list[tuple[str, str]], database_url: str
) -> tuple[dict[str, float], dict[int, Loaded]]:
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-mailboxes-"))
    upgrade(database_url)
    runtime = Runtime.from_settings(
        Settings(data_dir=data_dir, database_url=database_url, secret_key=SECRET)
    )
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(data_dir),
        "ATENDO_DATABASE_URL": database_url,
        "ATENDO_SECRET_KEY": SECRET,
        "ATENDO_API_RATE_LIMIT_PER_MINUTE": "1000000",
        "ATENDO_LOG_LEVEL": "WARNING",
        "ATENDO_MAILBOX_SCAN_INTERVAL": "1",
        # The bench's Dovecot listens on loopback at a port the system picks, which the
        # installation's defaults refuse (the network guard): as in bench/ingest.py.
        "ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS": "true",
        "ATENDO_MAIL_EXTRA_PORTS": "1024-65535",
    }
    port = _free_port()
    try:
        with runtime.db.transaction() as session:
            new = create_company(
                session, name="Bench mailboxes", admin_email="bench-mailboxes@bench.example",
                admin_password="bench-password-1",
            )  # fmt: skip
            company_id, token = new.company.id, new.api_token
        with (
            _process(
                [sys.executable, "-m", "atendo", "worker", "--processes", "1"],
                env, data_dir / "worker.log",
            ) as worker,
            _process(
                [sys.executable, "-m", "atendo", "serve", "--no-workers", "--host", "127.0.0.1",
                 "--port", str(port)],
                env, data_dir / "serve.log",
            ),
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": token}, timeout=30
            ) as api,
        ):  # fmt: skip
            time.sleep(SETTLE + 3)
            rss_before = _rss_kb(worker.pid)

            def add(some: list[tuple[str, str]]) -> None:
                with runtime.db.transaction() as session:
                    for user, password in some:
                        cfg = parse_settings({
                            "email": user, "imap_host": server.host,
                            "imap_port": server.imap_port, "imap_security": "none",
                            "smtp_host": server.host, "smtp_security": "none", "import_days": 0,
                        })  # fmt: skip
                        create_channel(
                            session, company_id=company_id, transport="email", name=user,
                            settings=cfg.public(), secrets={"password": password},
                            box=runtime.box,
                        )  # fmt: skip

            def connected(count: int) -> Callable[[], bool]:
                def check() -> bool:
                    with runtime.db.reading() as session:
                        n = session.scalar(
                            select(func.count()).where(
                                Channel.company_id == company_id, Channel.status == "connected"
                            )
                        )
                        return n == count

                return check

            # Half the mailboxes first, then the rest: the memory the second half adds is
            # what a mailbox costs (the first half also pays the worker's one-time costs:
            # database pool, threads, caches).
            half = len(users) // 2
            add(users[:half])
            _wait("half the mailboxes connected", connected(half))
            time.sleep(SETTLE)
            rss_half = _rss_kb(worker.pid)
            started = time.perf_counter()
            add(users[half:])
            _wait("every mailbox connected", connected(len(users)))
            connect_seconds = time.perf_counter() - started
            time.sleep(SETTLE)
            rss_after = _rss_kb(worker.pid)
            cpu = _idle_cpu(worker.pid)
            load = os.getloadavg()[0]

            def api_up() -> bool:
                try:
                    return api.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    return False  # still starting

            _wait("the API", api_up, 60)
            rng = random.Random(1)
            latencies = []
            for i in range(SAMPLES):
                user = rng.choice(users)[0]
                subject = f"probe {i}"
                t0 = time.perf_counter()
                server.deliver(user, _raw("probe", i))

                def visible(subject: str = subject) -> bool:
                    data = api.get("/v1/messages", params={"limit": 1}).json()["data"]
                    return bool(data) and data[0]["subject"] == subject

                _wait(f"probe {i} in the API", visible, 60)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.2)
            loaded = {rate: _under_load(server, users, runtime, rate, worker.pid) for rate in RATES}
            # (d) the mail server restarts under all N sessions: reconnections are spread
            # out, and the worker's memory comes back to where it was.
            time.sleep(SETTLE)
            rss_before_restart = _rss_kb(worker.pid)
            restarted = datetime.now(UTC)
            server.restart()
            t_restart = time.perf_counter()

            def all_back() -> bool:
                with runtime.db.reading() as session:
                    n = session.scalar(
                        select(func.count()).where(
                            Channel.company_id == company_id, Channel.last_sync > restarted
                        )
                    )
                    return n == len(users)

            _wait("every mailbox back after the restart", all_back)
            back_seconds = time.perf_counter() - t_restart
            time.sleep(SETTLE)
            rss_after_restart = _rss_kb(worker.pid)
    except SystemExit:
        # What the worker and the API said: a failed run's only witness (the folder goes).
        for name in ("worker.log", "serve.log"):
            with contextlib.suppress(OSError):
                tail = (data_dir / name).read_text(errors="replace").splitlines()[-30:]
                print(f"--- {name} (last lines)", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    figures = {
        "rss_total_mb": rss_after / 1024,
        "kb_per": (rss_after - rss_half) / (len(users) - half),
        "kb_per_from_empty": (rss_after - rss_before) / len(users),
        "cpu": cpu,
        "load": load,
        "p50": _pct(latencies, 0.5),
        "p95": _pct(latencies, 0.95),
        "connect_seconds": connect_seconds,
        "back_seconds": back_seconds,
        "rss_before_restart_mb": rss_before_restart / 1024,
        "rss_after_restart_mb": rss_after_restart / 1024,
    }
    return figures, loaded


@dataclass
class Loaded:
    """One steady load's figures: latency from the LMTP delivery's end (Dovecot has stored
    the message, an IMAP client may see it) to the row; how late the deliveries themselves
    finished against their schedule (the bench's own LMTP client, not Atendo); the worker's
    CPU while it lasted."""

    p50: float
    p95: float
    worst: float
    delivery_lag_p95: float
    worker_cpu: float
    seconds: float


def _under_load(
    server: DovecotServer, users: list[tuple[str, str]], runtime: Runtime, rate: int, pid: int
) -> Loaded:
    """Deliver ``rate`` mails/s for RATE_SECONDS to random mailboxes."""
    rng = random.Random(rate)
    tag = f"load{rate}"
    count = int(rate * RATE_SECONDS)
    due_at: dict[int, float] = {}
    stored_at: dict[int, float] = {}

    def deliver(i: int, user: str) -> None:
        server.deliver(user, _raw(tag, i))
        stored_at[i] = time.time()

    cpu_start, t_start = _cpu_seconds(pid), time.time()
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for i in range(count):
            due_at[i] = due = t_start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(deliver, i, rng.choice(users)[0]))
        for future in futures:
            future.result()

    def rows() -> list[tuple[str, datetime]]:
        with runtime.db.reading() as session:
            found = session.execute(
                select(Message.subject, Message.created).where(Message.subject.like(f"{tag} %"))
            )
            return [(str(subject), created) for subject, created in found]

    _wait(f"{count} mails at {rate}/s stored", lambda: len(rows()) >= count)
    seconds = time.time() - t_start
    cpu = _cpu_seconds(pid) - cpu_start
    latencies = [
        created.timestamp() - stored_at[int(str(subject).split()[1])] for subject, created in rows()
    ]
    lags = [stored_at[i] - due_at[i] for i in range(count)]
    return Loaded(
        p50=_pct(latencies, 0.5),
        p95=_pct(latencies, 0.95),
        worst=max(latencies),
        delivery_lag_p95=_pct(lags, 0.95),
        worker_cpu=cpu / seconds,
        seconds=seconds,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--mailboxes", type=int, default=100)
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip (a), the bare client (to look into (b))"
    )
    args = parser.parse_args()
    n = args.mailboxes
    reason = dovecot_available()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    db = "PostgreSQL" if postgres_available() else "SQLite"
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(
        f"bench/mailboxes.py: {n} idle mailboxes, {os.cpu_count()} CPUs, {db}, open files "
        f"limit {limit}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        flush=True,
    )
    server = ManySessionsDovecot()
    try:
        server.start()
        users = [(f"box{i}@bench.example", f"pw-{i}") for i in range(n)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda up: server.add_user(*up), users))
        nothing = {"rss_total_mb": 0.0, "kb_per": 0.0, "cpu": 0.0, "load": 0.0, "p50": 0.0}
        bare = {**nothing, "p95": 0.0} if args.no_baseline else bare_client(server, users)
        print("baseline measured; now Atendo", flush=True)
        if db == "PostgreSQL":
            with TemporaryDatabase(PG_BASE, prefix="atendo_bench") as url:
                ours, loaded = atendo(server, users, url)
        else:
            sqlite_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-mailboxes-db-"))
            try:
                ours, loaded = atendo(server, users, f"sqlite:///{sqlite_dir / 'atendo.db'}")
            finally:
                shutil.rmtree(sqlite_dir, ignore_errors=True)
    finally:
        server.close()
    print()
    print(
        f"{'':<40} {'RSS MB':>7} {'KB/mailbox':>10} {'idle CPU':>9} {'p50 s':>6} {'p95 s':>6}"
        f" {'load':>5}"
    )
    for label, f in (("(a) bare aioimaplib, IDLE (baseline)", bare), ("(b) atendo worker", ours)):
        print(
            f"{label:<40} {f['rss_total_mb']:>7.0f} {f['kb_per']:>10.1f} {f['cpu']:>8.1f}% "
            f"{f['p50']:>6.2f} {f['p95']:>6.2f} {f['load']:>5.1f}"
        )
    ratio = (
        f"{ours['kb_per'] / bare['kb_per']:.2f}x the bare client's"
        if bare["kb_per"] > 0
        else "not compared (no baseline measured)"
    )
    print(
        f"memory per mailbox: {ratio} (goal <= 1.5x); worker RSS "
        f"{ours['rss_total_mb']:.0f} MB with {n} mailboxes (goal at 1,000: < 300 MB); "
        f"{ours['kb_per_from_empty']:.0f} KB per mailbox counted from the empty worker (its "
        f"one-time costs included); the second {n - n // 2} connected "
        f"{ours['connect_seconds']:.1f} s after their channels were created"
    )
    for rate, f in loaded.items():
        print(
            f"(c) {rate} mails/s for {RATE_SECONDS:.0f} s: LMTP delivery done -> stored p50 "
            f"{f.p50:.2f} s, p95 {f.p95:.2f} s, worst {f.worst:.2f} s; the deliveries "
            f"themselves finished up to {f.delivery_lag_p95:.2f} s (p95) after their schedule; "
            f"worker CPU {f.worker_cpu:.0%} of one core over the {f.seconds:.0f} s"
        )
    print(
        f"(d) Dovecot restarted under {n} sessions: all back in {ours['back_seconds']:.1f} s; "
        f"worker RSS {ours['rss_before_restart_mb']:.0f} MB before, "
        f"{ours['rss_after_restart_mb']:.0f} MB after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
