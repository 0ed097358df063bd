"""Widget benchmark: N concurrent visitor WebSockets on one ``atendo serve`` process (SQLite,
workers in-process) exchanging messages with operators, beside a bare WebSocket echo server
on the same stack (uvicorn + Starlette, one process) measured in the same run.

Prints, for each: memory added per open connection (the server's RSS before and after opening
them, divided by N), round trips p50/p99 and the server's CPU during the exchange, with how
long its threads were ready to run but waited for a CPU (the machine is shared: what other
programs took from it) and the load average.

* Atendo, visitor → operator: a visitor's message over its socket until its ``ack`` (stored and
  committed through ``receive_client_message``, the operator's panel can read it).
* Atendo, operator → visitor: ``POST /v1/messages`` (an operator's answer, queued in the outbox)
  until the visitor's socket shows it (the widget's delivery loop records it sent, the hub
  carries the committed event to the connection).
* Echo: a text frame until it comes back.

Two loads on the same connections: bursts (``--concurrency`` exchanges at once, the next
burst when the last is answered) and a steady open load (``--rate`` exchanges started per
second, each by a visitor of its own, whether or not the earlier ones are answered).

``--split`` (with ``--postgres``) is the issue's set-up of several processes: the visitors'
sockets on one ``atendo serve --no-workers``, the operators' API and the workers on another;
an answer crosses from one to the other by LISTEN/NOTIFY.

    .venv/bin/python bench/widget.py [--visitors 1000] [--exchanges 200] [--concurrency 50]
                                     [--rate 20] [--steady 400] [--postgres [--split]]
                                     [--profile DIR]

``--profile DIR`` samples the Atendo processes with py-spy (``pip install py-spy``) while the
messages are exchanged (bursts and steady), only the stacks holding the GIL, and writes one
collapsed-stack file per process there (``serve-<pid>.txt``), with the ten functions most
often on them printed (their own time and their time with callees).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

from atendo.core.companies.service import create_company
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings

SITE = "http://127.0.0.1:9"
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

ECHO_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def echo(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except Exception:
            pass

    app = Starlette(routes=[WebSocketRoute("/echo", echo)])
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_wait_seconds(pid: int) -> float:
    """Seconds the process's threads were ready to run but waited for a CPU (the kernel's
    schedstat run-queue time): on a shared machine, what other programs took from it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def waits_of(pids: list[int]) -> float:
    return sum(cpu_wait_seconds(pid) for pid in pids)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def report(
    name: str,
    n: int,
    before: int,
    after: int,
    rtts: dict[str, list[float]],
    cpu: float,
    wall: float,
    waited: float | None = None,
    load: str = "",
) -> None:
    print(
        f"{name}: {n} open connections, +{(after - before) / n:.1f} KiB RSS per connection "
        f"({before / 1024:.0f} → {after / 1024:.0f} MiB)"
    )
    for label, values in rtts.items():
        if not values:
            continue
        print(
            f"  {label}: n={len(values)}  p50 {pct(values, 0.5) * 1000:.1f} ms  "
            f"p99 {pct(values, 0.99) * 1000:.1f} ms  max {max(values) * 1000:.1f} ms"
        )
    print(
        f"  server CPU during the exchange: {cpu:.2f} s in {wall:.1f} s "
        f"({100 * cpu / wall:.0f}% of one core)"
        + (f"; its threads ready but waiting for a CPU: {waited:.2f} s in all" if waited else "")
        + (f"; load average at the end {load}" if load else "")
    )


@contextlib.contextmanager
def profiling(pids: list[int], folder: Path | None) -> Any:
    """py-spy on each of ``pids`` for the span of the block (nothing without ``folder``)."""
    if folder is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    folder.mkdir(parents=True, exist_ok=True)
    outputs = [folder / f"serve-{pid}.txt" for pid in pids]
    spies = [
        subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(pid),
                "-f",
                "raw",
                "-g",
                "-r",
                "50",
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, out in zip(pids, outputs, strict=True)
    ]
    time.sleep(1)
    try:
        yield
    finally:
        for one in spies:
            one.send_signal(signal.SIGINT)
        for one in spies:
            one.wait(timeout=60)
        for out in outputs:
            print_profile(out)


def print_profile(path: Path, top: int = 10) -> None:
    """The functions most often on the sampled stacks: own samples and with callees."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    if not path.exists():
        print(f"profile {path}: nothing written")
        return
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for name in set(frames):
            total[name] = total.get(name, 0) + n
    print(f"profile {path} ({samples} samples holding the GIL, 50 a second):")
    for title, table in (("own", own), ("with callees", total)):
        print(f"  most {title}:")
        for name, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {100 * n / max(samples, 1):5.1f}%  {name}")


async def frame(sock: Any, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        data: dict[str, Any] = json.loads(await sock.recv())
        if data.get("t") == kind and all(data.get("m", {}).get(k) == v for k, v in match.items()):
            return data


async def bench_atendo(
    base: str,
    pid: int,
    token: str,
    api: tuple[str, int] | None,
    n: int,
    exchanges: int,
    conc: int,
    rate: float,
    steady_count: int,
    profile: Path | None = None,
) -> None:
    origin = base
    ws_base = base.replace("http", "ws", 1)
    # --split: the operators' API (and the workers) on a process of their own
    api_base, api_pid = api or (base, None)
    pids = [pid] if api_pid is None else [pid, api_pid]
    # (idle connections dropped before uvicorn's 5 s keep-alive closes them under our feet)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0)
    async with (
        httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http,
        httpx.AsyncClient(base_url=api_base, timeout=60, limits=limits) as api_client,
    ):
        operators = api_client if api is not None else http
        channel = await operators.post(
            "/v1/channels",
            json={"transport": "widget", "name": "Bench", "allowed_origins": [SITE]},
            headers={"Authorization": token},
        )
        public_id = channel.json()["data"]["public_id"]
        before = rss_kib(pid)
        tokens = []
        for _ in range(n):
            r = await http.post(f"/widget/{public_id}/session", json={}, headers={"origin": origin})
            tokens.append(r.json()["token"])
        socks = []
        for i in range(0, n, 100):
            socks += await asyncio.gather(
                *(
                    websockets.connect(
                        f"{ws_base}/widget/{public_id}/ws?token={t}", origin=origin, max_queue=None
                    )  # type: ignore[arg-type]
                    for t in tokens[i : i + 100]
                )
            )
        await asyncio.gather(*(frame(s, "hello") for s in socks))
        await asyncio.sleep(2)
        after = rss_kib(pid)
        # the exchange: `exchanges` visitors write (concurrently, 50 at a time) and are answered
        inbound: list[float] = []
        outbound: list[float] = []
        posted: list[float] = []
        steady_in: list[float] = []
        steady_out: list[float] = []
        spied = contextlib.ExitStack()
        spied.enter_context(profiling(pids, profile))
        cpu0, t0, wait0 = cpu_of(pids), time.perf_counter(), waits_of(pids)

        async def one(
            i: int,
            inbound: list[float] = inbound,
            outbound: list[float] = outbound,
            posted: list[float] | None = posted,
        ) -> None:
            sock = socks[i]
            start = time.perf_counter()
            await sock.send(json.dumps({"t": "msg", "text": f"pergunta {i}", "key": f"q{i}"}))
            ack = await frame(sock, "ack")
            inbound.append(time.perf_counter() - start)
            r = await operators.get(f"/v1/messages/{ack['id']}", headers={"Authorization": token})
            dialog_id = r.json()["data"]["dialog_id"]
            start = time.perf_counter()
            await operators.post(
                "/v1/messages",
                json={"dialog_id": dialog_id, "text": f"resposta {i}"},
                headers={"Authorization": token},
            )
            if posted is not None:
                posted.append(time.perf_counter() - start)
            await frame(sock, "msg", author="operator", text=f"resposta {i}")
            outbound.append(time.perf_counter() - start)

        for i in range(0, exchanges, conc):
            await asyncio.gather(*(one(j) for j in range(i, min(i + conc, exchanges))))
        wall = time.perf_counter() - t0
        cpu = cpu_of(pids) - cpu0
        waited, load = waits_of(pids) - wait0, load_average()
        # then a steady load: other visitors start an exchange every 1/rate seconds
        cpu1, t1, wait1 = cpu_of(pids), time.perf_counter(), waits_of(pids)
        await steady(
            lambda i: one(exchanges + i, steady_in, steady_out, None),
            min(steady_count, n - exchanges),
            rate,
        )
        steady_wall = time.perf_counter() - t1
        steady_cpu = cpu_of(pids) - cpu1
        steady_waited, steady_load = waits_of(pids) - wait1, load_average()
        spied.close()
        await asyncio.gather(*(s.close() for s in socks))
    report(
        f"atendo serve (widget), bursts of {conc} exchanges at once",
        n,
        before,
        after,
        {
            "visitor → operator (stored, ack)": inbound,
            "operator → visitor (API → outbox → socket)": outbound,
            "  of which the API's answer to POST /v1/messages": posted,
        },
        cpu,
        wall,
        waited,
        load,
    )
    report(
        f"atendo serve (widget), steady {rate:g} exchanges/s",
        n,
        before,
        after,
        {
            "visitor → operator (stored, ack)": steady_in,
            "operator → visitor (API → outbox → socket)": steady_out,
        },
        steady_cpu,
        steady_wall,
        steady_waited,
        steady_load,
    )


async def steady(start: Callable[[int], Awaitable[None]], count: int, rate: float) -> None:
    """``count`` tasks started every ``1 / rate`` seconds (whether or not earlier ones are
    done: an open load, as visitors write), then awaited."""
    t0 = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start(i)))
    await asyncio.gather(*tasks)


async def bench_echo(
    base: str, pid: int, n: int, exchanges: int, conc: int, rate: float, steady_count: int
) -> None:
    url = base.replace("http", "ws", 1) + "/echo"
    before = rss_kib(pid)
    socks = []
    for i in range(0, n, 100):
        socks += await asyncio.gather(*(websockets.connect(url) for _ in range(i, min(i + 100, n))))
    await asyncio.sleep(2)
    after = rss_kib(pid)
    rtts: list[float] = []
    cpu0, t0, wait0 = cpu_seconds(pid), time.perf_counter(), cpu_wait_seconds(pid)

    async def one(i: int) -> None:
        start = time.perf_counter()
        await socks[i].send(f"ping {i}")
        await socks[i].recv()
        rtts.append(time.perf_counter() - start)

    for i in range(0, exchanges, conc):
        await asyncio.gather(*(one(j) for j in range(i, min(i + conc, exchanges))))
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    waited, load = cpu_wait_seconds(pid) - wait0, load_average()
    steady_rtts: list[float] = []

    async def timed(i: int) -> None:
        start = time.perf_counter()
        await socks[i].send(f"ping {i}")
        await socks[i].recv()
        steady_rtts.append(time.perf_counter() - start)

    await steady(timed, min(steady_count, n), rate)
    await asyncio.gather(*(s.close() for s in socks))
    report(
        "bare WebSocket echo (uvicorn + Starlette)",
        n,
        before,
        after,
        {"echo, bursts": rtts, f"echo, steady {rate:g}/s": steady_rtts},
        cpu,
        max(wall, 1e-6),
        waited,
        load,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--exchanges", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50, help="exchanges at a time")
    parser.add_argument("--rate", type=float, default=20.0, help="steady exchanges per second")
    parser.add_argument("--steady", type=int, default=400, help="exchanges at the steady rate")
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample the Atendo processes with py-spy during the exchange; files in this folder",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="on a new database of 127.0.0.1:5432 (not SQLite)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="with --postgres: the visitors' sockets on one `atendo serve --no-workers` process, "
        "the operators' API and the workers on another (answers cross by LISTEN/NOTIFY)",
    )
    args = parser.parse_args()
    if args.split and not args.postgres:
        parser.error("--split needs --postgres (processes share PostgreSQL only)")
    if args.exchanges + args.steady > args.visitors:
        parser.error(
            "each exchange needs a visitor of its own: --exchanges + --steady ≤ --visitors"
        )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.visitors)), hard))
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.postgres:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.servers.postgres import TemporaryDatabase

            database_url = stack.enter_context(
                TemporaryDatabase(PG_BASE, prefix="atendo_bench_widget")
            )
        return run(args, database_url)


def run(args: argparse.Namespace, database_url: str | None) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-widget-"))
    settings = Settings(data_dir=data_dir, secret_key="bench-secret", database_url=database_url)
    upgrade(settings.resolved_database_url)
    runtime = Runtime.from_settings(settings)
    with runtime.db.transaction() as session:
        token = create_company(
            session, name="Bench", admin_email="bench@bench.example", admin_password="x" * 12
        ).api_token
    runtime.close()
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(data_dir),
        "ATENDO_SECRET_KEY": "bench-secret",
        "ATENDO_DATABASE_URL": settings.resolved_database_url,
        "ATENDO_LOG_LEVEL": "WARNING",
        "ATENDO_API_RATE_LIMIT_PER_MINUTE": "100000000",
        "ATENDO_WIDGET_IP_CHATS_PER_HOUR": "100000000",
        "ATENDO_WIDGET_IP_MESSAGES_PER_MINUTE": "100000000",
    }
    port, echo_port, api_port = free_port(), free_port(), free_port()
    log = (data_dir / "serve.log").open("wb")  # read it when a run fails
    (data_dir / "echo_app.py").write_text(ECHO_APP)
    serve = [sys.executable, "-m", "atendo", "serve", "--host", "127.0.0.1", "--port"]
    servers = [
        subprocess.Popen(
            [*serve, str(port), *(["--no-workers"] if args.split else [])],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "echo_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(echo_port),
                "--log-level",
                "warning",
            ],
            cwd=data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    if args.split:
        servers.append(
            subprocess.Popen([*serve, str(api_port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        )
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        if args.split:
            wait_up(f"http://127.0.0.1:{api_port}/healthz")
        wait_up(f"http://127.0.0.1:{echo_port}/")
        print(
            f"{args.visitors} visitors, {args.exchanges} exchanged messages each way, "
            f"{args.concurrency} at a time, then {args.steady} at {args.rate:g} per second, "
            f"{os.cpu_count()} CPUs (shared), "
            + (
                "Atendo on two processes (visitors' sockets; operators' API and workers; CPU "
                "is both), the echo on one, "
                if args.split
                else "one server process each, "
            )
            + "Atendo on "
            f"{'PostgreSQL' if database_url else 'SQLite'}; load average {load_average()}",
            flush=True,
        )
        asyncio.run(
            bench_atendo(
                f"http://127.0.0.1:{port}",
                servers[0].pid,
                token,
                (f"http://127.0.0.1:{api_port}", servers[2].pid) if args.split else None,
                args.visitors,
                args.exchanges,
                args.concurrency,
                args.rate,
                args.steady,
                args.profile,
            )
        )
        asyncio.run(
            bench_echo(
                f"http://127.0.0.1:{echo_port}",
                servers[1].pid,
                args.visitors,
                args.exchanges,
                args.concurrency,
                args.rate,
                args.steady,
            )
        )
    except Exception:
        print(f"the server's log: {data_dir / 'serve.log'}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
